// Whole-tensor sums, in two passes: a fixed grid of blocks each sums a fixed strided part
// of the tensor in double, then one block adds the per-block partials in order. Nothing
// depends on scheduling, so the same input gives the same bits every time; double
// accumulation keeps the result within a float rounding of the CPU's double sum. sum and
// sum_squares take f32 or bf16 for the input and for the one-element output, as the CPU
// does: bf16 values are read into float, and the total is rounded to float and then, for a
// bf16 output, to bf16 (kernels/bf16.h), as the CPU's conversion rounds it.
#include "framework/backend/cuda/block_reduce.cuh"
#include "framework/backend/cuda/cuda_ops.h"
#include "framework/backend/cuda/kernel_launch.h"
#include "framework/backend/cuda/reduce.h"
#include "framework/backend/cuda/storage.cuh"

namespace convlab::backend_cuda {
namespace {

// The first pass uses at most this many blocks (a function of n only, so that the partition,
// and with it the rounding, is the same on every GPU).
constexpr int kMaxPartials = 1024;

template <bool kSquare, class S>
__global__ void partial_sums_kernel(const S* x, int64_t n, double* partials) {
  __shared__ double scratch[32];
  double total = 0;
  CONVLAB_FOR_EACH(i, n) {
    const double v = load(x, i);
    total += kSquare ? v * v : v;
  }
  total = block_sum(total, scratch);
  if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

template <class S>
__global__ void finish_sum_kernel(const double* partials, int count, double divisor, S* out) {
  __shared__ double scratch[32];
  double total = 0;
  for (int i = threadIdx.x; i < count; i += blockDim.x) total += partials[i];
  total = block_sum(total, scratch);
  if (threadIdx.x == 0) store(out, 0, static_cast<float>(total / divisor));
}

template <bool kSquare>
void reduce(const Tensor& x, Tensor& out, const char* op) {
  check_storage({&x, &out}, op);
  CONVLAB_CHECK(out.numel() == 1, "{}: the output {} must be one element", op, out.describe());
  const int64_t n = x.numel();
  const cudaStream_t stream = stream_of(x);
  const int blocks = static_cast<int>(std::clamp<int64_t>((n + kThreads * 16 - 1) / (kThreads * 16), 1, kMaxPartials));
  Tensor partials = Tensor::empty({blocks}, DType::f64, x.device());  // (blocks)
  dispatch_storage(x, op, [&](auto tag) {
    using S = decltype(tag);
    partial_sums_kernel<kSquare><<<blocks, kThreads, 0, stream>>>(x.data<S>(), n, partials.data<double>());
  });
  CUDA_CHECK_LAUNCH();
  dispatch_storage(out, op, [&](auto tag) {
    using S = decltype(tag);
    finish_sum_kernel<<<1, kThreads, 0, stream>>>(partials.data<double>(), blocks, 1.0, out.data<S>());
  });
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void finish_sum(const double* partials, int count, double divisor, float* out, cudaStream_t stream) {
  finish_sum_kernel<<<1, kThreads, 0, stream>>>(partials, count, divisor, out);
  CUDA_CHECK_LAUNCH();
}

void sum(const Tensor& x, Tensor& out) { reduce<false>(x, out, "sum"); }

void sum_squares(const Tensor& x, Tensor& out) { reduce<true>(x, out, "sum_squares"); }

}  // namespace convlab::backend_cuda
