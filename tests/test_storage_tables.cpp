// sum, sum_squares and scale_by take the same storage on the CPU and on CUDA: each operand
// (x, the one-element output of a sum, scale_by's scale s and output) f32 or bf16, in any
// mix; the CPU also takes them all in f64, its gradient-check dtype, which the CUDA backend
// has nowhere. Anything else is refused with convlab::Error. Where a GPU answers, CUDA gives
// the CPU's results on awkward sizes:
// - scale_by bitwise: both devices compute (alpha * s) * x in float, the same operations in
//   the same order, and round once into the output's storage;
// - the sums within 1e-6 relative into f32: both sum in double, in another order, and round
//   once to float; into bf16, within one bf16 step (at most 2^-7 relative), as the float
//   results may fall on either side of a bf16 rounding boundary.
#include <gtest/gtest.h>

#include <initializer_list>
#include <memory>
#include <string>

#include "framework/backend/backend.h"
#include "framework/backend/cuda_device.h"
#include "framework/core/error.h"
#include "tests/support/gradient_check.h"
#include "tests/support/tensor_compare.h"

using namespace convlab;

namespace {

const DType kAllDtypes[] = {DType::f32, DType::f64, DType::i32, DType::u8, DType::bf16};

bool is_storage(DType d) { return d == DType::f32 || d == DType::bf16; }

// What the CPU table takes: every operand f32 or bf16, or every one f64.
bool cpu_takes(std::initializer_list<DType> dtypes) {
  bool storage = true, f64 = true;
  for (const DType d : dtypes) {
    storage = storage && is_storage(d);
    f64 = f64 && d == DType::f64;
  }
  return storage || f64;
}

// What the CUDA table takes: every operand f32 or bf16.
bool cuda_takes(std::initializer_list<DType> dtypes) {
  bool storage = true;
  for (const DType d : dtypes) storage = storage && is_storage(d);
  return storage;
}

std::string names(std::initializer_list<DType> dtypes) {
  std::string text;
  for (const DType d : dtypes) text += std::string(text.empty() ? "" : ", ") + dtype_name(d);
  return text;
}

// Zeros of any dtype on `device` (made on the CPU, whose fill takes every dtype).
Tensor zeros_on(Shape shape, DType dtype, Device device) { return Tensor::zeros(std::move(shape), dtype, cpu()).to(device); }

// Whether `b` runs the op on zero-filled operands of these dtypes on `device` (false: it
// threw convlab::Error; anything else thrown fails the test).
bool runs_sum(const Backend& b, Device device, bool squares, DType x_dtype, DType out_dtype) {
  const Tensor x = zeros_on({7}, x_dtype, device);
  Tensor out = zeros_on({1}, out_dtype, device);
  try {
    (squares ? b.sum_squares : b.sum)(x, out);
    return true;
  } catch (const Error&) {
    return false;
  }
}

bool runs_scale_by(const Backend& b, Device device, DType x_dtype, DType s_dtype, DType out_dtype) {
  const Tensor x = zeros_on({7}, x_dtype, device), s = zeros_on({1}, s_dtype, device);
  Tensor out = zeros_on({7}, out_dtype, device);
  try {
    b.scale_by(x, s, 2.0, out);
    return true;
  } catch (const Error&) {
    return false;
  }
}

// Checks a table against `takes` over every combination of dtypes.
template <class Takes>
void check_table(const Backend& b, Device device, Takes&& takes) {
  for (const bool squares : {false, true})
    for (const DType x : kAllDtypes)
      for (const DType out : kAllDtypes)
        EXPECT_EQ(runs_sum(b, device, squares, x, out), takes({x, out}))
            << (squares ? "sum_squares" : "sum") << " of x, out: " << names({x, out});
  for (const DType x : kAllDtypes)
    for (const DType s : kAllDtypes)
      for (const DType out : kAllDtypes)
        EXPECT_EQ(runs_scale_by(b, device, x, s, out), takes({x, s, out})) << "scale_by of x, s, out: " << names({x, s, out});
}

// A CPU tensor of uniform values in [lo, hi), stored as `dtype`.
Tensor stored(Shape shape, uint64_t seed, DType dtype, double lo = -1, double hi = 1) {
  Tensor f32 = test_support::random_tensor(std::move(shape), seed, lo, hi, DType::f32);
  if (dtype == DType::f32) return f32;
  Tensor out = Tensor::empty(f32.shape(), dtype, cpu());
  cpu_backend().convert(f32, out);
  return out;
}

class StorageTablesOnCuda : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU";
    context_ = create_cuda_context(0);
  }
  Device gpu() { return Device(context_.get()); }
  std::unique_ptr<DeviceContext> context_;
};

}  // namespace

TEST(StorageTables, CpuTakesF32AndBf16AndItsF64) { check_table(cpu_backend(), cpu(), cpu_takes); }

// The CPU table's bf16 runs compute in f32 and round once: the same results as f32 inputs
// rounded to bf16 by hand.
TEST(StorageTables, CpuBf16IsF32RoundedOnce) {
  const Tensor x = stored({1003}, 1, DType::bf16), s = stored({1}, 2, DType::bf16);
  Tensor x32 = Tensor::empty({1003}, DType::f32, cpu()), s32 = Tensor::empty({1}, DType::f32, cpu());
  cpu_backend().convert(x, x32);
  cpu_backend().convert(s, s32);
  Tensor y = Tensor::empty({1003}, DType::bf16, cpu()), y32 = Tensor::empty({1003}, DType::f32, cpu());
  cpu_backend().scale_by(x, s, 0.3, y);
  cpu_backend().scale_by(x32, s32, 0.3, y32);
  Tensor rounded = Tensor::empty({1003}, DType::bf16, cpu());
  cpu_backend().convert(y32, rounded);
  EXPECT_TRUE(test_support::bitwise_equal(y, rounded));
  Tensor total = Tensor::empty({1}, DType::f32, cpu()), total32 = total.clone();
  cpu_backend().sum(x, total);
  cpu_backend().sum(x32, total32);
  EXPECT_TRUE(test_support::bitwise_equal(total, total32));
}

TEST_F(StorageTablesOnCuda, CudaTakesWhatTheCpuTakesButF64) {
  check_table(cuda_backend(), gpu(), cuda_takes);
}

TEST_F(StorageTablesOnCuda, ResultsMatchTheCpu) {
  for (const int64_t n : {int64_t{1}, int64_t{7}, int64_t{1000003}})
    for (const DType x_dtype : {DType::f32, DType::bf16}) {
      SCOPED_TRACE(testing::Message() << "n " << n << ", x " << dtype_name(x_dtype));
      const Tensor x = stored({n}, 10 + n, x_dtype);
      const Tensor x_gpu = x.to(gpu());
      for (const DType out_dtype : {DType::f32, DType::bf16}) {
        SCOPED_TRACE(testing::Message() << "out " << dtype_name(out_dtype));
        for (const bool squares : {false, true}) {
          Tensor total = zeros_on({1}, out_dtype, cpu()), total_gpu = zeros_on({1}, out_dtype, gpu());
          (squares ? cpu_backend().sum_squares : cpu_backend().sum)(x, total);
          (squares ? cuda_backend().sum_squares : cuda_backend().sum)(x_gpu, total_gpu);
          const double tolerance = out_dtype == DType::f32 ? 1e-6 : 1.0 / 128;
          EXPECT_LE(test_support::max_relative_error(total, total_gpu), tolerance) << (squares ? "sum_squares" : "sum");
        }
        for (const DType s_dtype : {DType::f32, DType::bf16})
          for (const double alpha : {1.0, 2.0, 0.3}) {
            const Tensor s = stored({1}, 3, s_dtype, -2, 2);
            Tensor y = Tensor::empty({n}, out_dtype, cpu()), y_gpu = Tensor::empty({n}, out_dtype, gpu());
            cpu_backend().scale_by(x, s, alpha, y);
            cuda_backend().scale_by(x_gpu, s.to(gpu()), alpha, y_gpu);
            EXPECT_TRUE(test_support::bitwise_equal(y, y_gpu))
                << "scale_by, s " << dtype_name(s_dtype) << ", alpha " << alpha;
          }
      }
    }
}
