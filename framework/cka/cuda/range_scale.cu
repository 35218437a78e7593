#include "framework/cka/cuda/range_scale.h"

#include <cmath>
#include <cstring>

#include "framework/backend/cuda/cuda_check.h"
#include "framework/cka/cuda/launch.h"
#include "kernels/gram.h"

namespace convlab::cka_cuda {
namespace {

// Grid-stride over the values (each thread keeps its own maximum), then one atomic per block.
__global__ void __launch_bounds__(kThreads) max_abs_kernel(const float* x, int64_t count, uint32_t* bits) {
  __shared__ uint32_t scratch[32];
  uint32_t largest = 0;
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
#pragma unroll 4
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count; i += step)
    largest = max(largest, magnitude_bits(x[i]));
  block_atomic_max(largest, scratch, bits);
}

__global__ void unscale_gram_kernel(double* gram, int64_t n, const uint32_t* bits) {
  const double unscale = kernels::range_unscale(kernels::range_scale(static_cast<double>(__uint_as_float(*bits))));
  if (unscale == 1.0) return;
  CKA_FOR_EACH(index, n * n) gram[index] *= unscale;
}

// The factor in f64 (2^exponent is outside f32's range for subnormal or huge features),
// rounded once to f32.
__global__ void scale_kernel(float* x, int64_t count, double factor) {
  CKA_FOR_EACH(i, count) x[i] = static_cast<float>(static_cast<double>(x[i]) * factor);
}

}  // namespace

float largest_magnitude(const float* x, int64_t count, uint32_t* scratch, cudaStream_t stream) {
  CUDA_CHECK(cudaMemsetAsync(scratch, 0, sizeof(uint32_t), stream));
  max_abs(x, count, scratch, stream);
  uint32_t bits = 0;
  CUDA_CHECK(cudaMemcpyAsync(&bits, scratch, sizeof(uint32_t), cudaMemcpyDeviceToHost, stream));
  CUDA_CHECK(cudaStreamSynchronize(stream));
  float largest = 0.0f;
  static_assert(sizeof(bits) == sizeof(largest));
  memcpy(&largest, &bits, sizeof(largest));
  return largest;
}

void scale_by_power_of_two(float* x, int64_t count, int exponent, cudaStream_t stream) {
  if (count == 0 || exponent == 0) return;
  scale_kernel<<<grid_for(count), kThreads, 0, stream>>>(x, count, ldexp(1.0, exponent));
  CUDA_CHECK_LAUNCH();
}

void max_abs(const float* x, int64_t count, uint32_t* max_abs_bits, cudaStream_t stream) {
  if (count <= 0) return;
  // One value per thread up to kMaxAbsBlocks blocks (about 8 resident blocks per SM of 256
  // threads, so two waves on a 132-SM H100), beyond which the threads loop.
  const unsigned grid = static_cast<unsigned>(std::min<int64_t>((count + kThreads - 1) / kThreads, kMaxAbsBlocks));
  max_abs_kernel<<<grid, kThreads, 0, stream>>>(x, count, max_abs_bits);
  CUDA_CHECK_LAUNCH();
}

void unscale_gram(double* gram, int64_t n, const uint32_t* max_abs_bits, cudaStream_t stream) {
  if (n == 0) return;
  unscale_gram_kernel<<<grid_for(n * n), kThreads, 0, stream>>>(gram, n, max_abs_bits);
  CUDA_CHECK_LAUNCH();
}

}  // namespace convlab::cka_cuda
