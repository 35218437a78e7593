// CPU-vs-CUDA parity of every CUDA op written so far, on fresh random inputs. Skips when no
// GPU answers. Tolerances: elementwise f32 ops must match exactly (the same per-element
// code runs on both), except where noted.
#include <gtest/gtest.h>

#include <memory>

#include "framework/backend/backend.h"
#include "framework/backend/cuda_device.h"
#include "tests/support/gradient_check.h"

using namespace convlab;

namespace {

class CudaParity : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU";
    context_ = create_cuda_context(0);
  }
  Device gpu() { return Device(context_.get()); }
  static Tensor random(Shape shape, uint64_t seed) {
    return test_support::random_tensor(std::move(shape), seed, -2, 2, DType::f32);
  }
  static void expect_equal(const Tensor& cpu_result, const Tensor& gpu_result) {
    const Tensor back = gpu_result.to(cpu());
    ASSERT_EQ(cpu_result.shape(), back.shape());
    const float* a = cpu_result.host<float>();
    const float* b = back.host<float>();
    for (int64_t i = 0; i < cpu_result.numel(); ++i) ASSERT_EQ(a[i], b[i]) << "element " << i;
  }
  std::unique_ptr<DeviceContext> context_;
};

}  // namespace

TEST_F(CudaParity, Fill) {
  Tensor t = Tensor::full({1000}, DType::f32, gpu(), 2.5);
  expect_equal(Tensor::full({1000}, DType::f32, cpu(), 2.5), t);
}

TEST_F(CudaParity, Axpy) {
  const Tensor x = random({3, 1001}, 1);
  Tensor y = random({3, 1001}, 2);
  Tensor y_gpu = y.to(gpu());
  cpu_backend().axpy(0.37, x, y);
  cuda_backend().axpy(0.37, x.to(gpu()), y_gpu);
  expect_equal(y, y_gpu);
}

TEST_F(CudaParity, ReluForwardBackward) {
  const Tensor x = random({4, 5, 7, 9}, 3), g = random({4, 5, 7, 9}, 4);
  Tensor y = Tensor::empty(x.shape(), DType::f32, cpu()), gx = Tensor::empty(x.shape(), DType::f32, cpu());
  cpu_backend().relu_forward(x, y);
  cpu_backend().relu_backward(y, g, gx);
  Tensor y_gpu = Tensor::empty(x.shape(), DType::f32, gpu()), gx_gpu = Tensor::empty(x.shape(), DType::f32, gpu());
  cuda_backend().relu_forward(x.to(gpu()), y_gpu);
  cuda_backend().relu_backward(y_gpu, g.to(gpu()), gx_gpu);
  expect_equal(y, y_gpu);
  expect_equal(gx, gx_gpu);
}

TEST_F(CudaParity, DropoutDrawsTheSameMask) {
  const Tensor x = random({8, 16, 9, 9}, 5);
  const RandomKey key{42, 0x101, 7};
  Tensor y = Tensor::empty(x.shape(), DType::f32, cpu());
  cpu_backend().dropout_forward(x, 0.3, key, y);
  Tensor y_gpu = Tensor::empty(x.shape(), DType::f32, gpu());
  cuda_backend().dropout_forward(x.to(gpu()), 0.3, key, y_gpu);
  expect_equal(y, y_gpu);
}
