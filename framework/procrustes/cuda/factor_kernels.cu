#include "framework/procrustes/cuda/factor_kernels.h"

#include "framework/backend/cuda/cuda_check.h"
#include "framework/cka/cuda/block_sum.cuh"
#include "framework/cka/cuda/launch.h"
#include "kernels/procrustes.h"

namespace convlab::procrustes_cuda {
namespace {

using cka_cuda::block_sum;
using cka_cuda::grid_for;
using cka_cuda::kThreads;

constexpr int kReduceThreads = 1024;

__global__ void squared_norm_kernel(const float* x, int64_t count, double* out) {
  __shared__ double scratch[32];
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) s += static_cast<double>(x[i]) * x[i];
  s = block_sum(s, scratch);
  if (threadIdx.x == 0) *out = s;
}

__global__ void squared_norm_f64_kernel(const double* x, int64_t count, double* out) {
  __shared__ double scratch[32];
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) s += x[i] * x[i];
  s = block_sum(s, scratch);
  if (threadIdx.x == 0) *out = s;
}

__global__ void scale_to_unit_kernel(const float* x, int64_t count, const double* sq, double* out, int32_t* constant) {
  const double norm_sq = *sq;
  if (!(norm_sq > 0.0 && isfinite(norm_sq))) {  // as divide_kernel: the factor stays finite
    if (blockIdx.x == 0 && threadIdx.x == 0) *constant = 1;
    CKA_FOR_EACH(i, count) out[i] = 0.0;
    return;
  }
  const double inv = 1.0 / sqrt(norm_sq);
  CKA_FOR_EACH(i, count) out[i] = static_cast<double>(x[i]) * inv;
}

__global__ void trace_kernel(const double* gram, int64_t n, double* out) {
  __shared__ double scratch[32];
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += gram[i * n + i];
  s = block_sum(s, scratch);
  if (threadIdx.x == 0) *out = s;
}

// A trace that is not positive and finite (constant features, or a NaN or infinity that the
// non-finite flag reports) leaves a zero matrix: cuSOLVER never sees a NaN, which it may answer
// with an execution error before the host has read the flag that names the layer.
__global__ void divide_kernel(double* gram, int64_t n, const double* trace, int32_t* constant) {
  const double t = *trace;
  if (!(t > 0.0 && isfinite(t))) {
    if (blockIdx.x == 0 && threadIdx.x == 0) *constant = 1;
    CKA_FOR_EACH(index, n * n) gram[index] = 0.0;
    return;
  }
  CKA_FOR_EACH(index, n * n) gram[index] /= t;
}

__global__ void factor_kernel(const double* vectors, const double* lambda, int64_t n, double* factor) {
  const double largest = lambda[n - 1];
  CKA_FOR_EACH(index, n * n) {
    int64_t i, j;
    cka_cuda::row_and_column(index, n, i, j);
    factor[index] = vectors[i + j * n] * sqrt(kernels::eigen_floor(lambda[j], largest, n));
  }
}

__global__ void nuclear_kernel(const double* lambda, int64_t n, double* out) {
  __shared__ double scratch[32];
  const double largest = lambda[n - 1];
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += sqrt(kernels::eigen_floor(lambda[i], largest, n));
  s = block_sum(s, scratch);
  if (threadIdx.x == 0) *out = s;
}

}  // namespace

void normalise_features(const float* centred, int64_t count, double* out, int32_t* constant, double* slot,
                        cudaStream_t stream) {
  squared_norm_kernel<<<1, kReduceThreads, 0, stream>>>(centred, count, slot);
  CUDA_CHECK_LAUNCH();
  scale_to_unit_kernel<<<grid_for(count), kThreads, 0, stream>>>(centred, count, slot, out, constant);
  CUDA_CHECK_LAUNCH();
}

void normalise_gram(double* gram, int64_t n, int32_t* constant, double* slot, cudaStream_t stream) {
  trace_kernel<<<1, kReduceThreads, 0, stream>>>(gram, n, slot);
  CUDA_CHECK_LAUNCH();
  divide_kernel<<<grid_for(n * n), kThreads, 0, stream>>>(gram, n, slot, constant);
  CUDA_CHECK_LAUNCH();
}

void factor_from_eigen(const double* vectors, const double* lambda, int64_t n, double* factor, cudaStream_t stream) {
  factor_kernel<<<grid_for(n * n), kThreads, 0, stream>>>(vectors, lambda, n, factor);
  CUDA_CHECK_LAUNCH();
}

void nuclear_from_eigenvalues(const double* lambda, int64_t n, double* out, cudaStream_t stream) {
  nuclear_kernel<<<1, kReduceThreads, 0, stream>>>(lambda, n, out);
  CUDA_CHECK_LAUNCH();
}

void squared_norm(const double* f, int64_t count, double* out, cudaStream_t stream) {
  squared_norm_f64_kernel<<<1, kReduceThreads, 0, stream>>>(f, count, out);
  CUDA_CHECK_LAUNCH();
}

}  // namespace convlab::procrustes_cuda
