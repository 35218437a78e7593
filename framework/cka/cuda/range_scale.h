// The layer-wide scale of the range scaling on the device (kernels::range_scale): the largest
// magnitude of a layer's f32 features, kept as its f32 bit pattern (for non-negative floats
// the bits order like the values, so an integer atomicMax finds it), and the step that scales
// an f64 Gram back. CPU twin: the largest-magnitude pass of cka::centre_columns and the end of
// cka::linear_gram.
//
// max_abs reads the values once, on a grid of at most kMaxAbsBlocks blocks, each reducing in
// registers, shuffles and shared memory before its one atomicMax (a max is exact in any order,
// so the result does not depend on the schedule). The statistics passes of the column and row
// centring (column_centring.h, rsa_cuda::row_shifts) fold the same maximum into their one read
// of the features, through block_atomic_max below.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace convlab::cka_cuda {

// The most blocks max_abs launches (each loops over its share): at most this many atomics.
constexpr int kMaxAbsBlocks = 2048;

// Queues on `stream`: *max_abs_bits = max(*max_abs_bits, bits of max |x| over count values)
// (set it to 0 first). A NaN's magnitude has bits above infinity's, so a NaN wins.
void max_abs(const float* x, int64_t count, uint32_t* max_abs_bits, cudaStream_t stream);

// Queues on `stream`: gram (n, n) f64 *= kernels::range_unscale(range_scale(max |x|)).
void unscale_gram(double* gram, int64_t n, const uint32_t* max_abs_bits, cudaStream_t stream);

// max |x| over count f32 values, waiting for it: scratch is one device u32 (the twin of the
// host loop in analysis/compare.cpp that picks a layer's power of two). NaN counts as larger
// than any number.
float largest_magnitude(const float* x, int64_t count, uint32_t* scratch, cudaStream_t stream);

// Queues on `stream`: x (count f32) *= 2^exponent, exact for results in f32's normal range.
void scale_by_power_of_two(float* x, int64_t count, int exponent, cudaStream_t stream);

#if defined(__CUDACC__)
// The bits of |v| as max_abs compares them: fabsf clears the sign, so NaN (any payload) orders
// above infinity, and infinity above every finite value.
__device__ __forceinline__ uint32_t magnitude_bits(float v) { return __float_as_uint(fabsf(v)); }

// *bits = max(*bits, the largest `value` of the block) with one atomicMax per block. Every
// thread of the block calls it (1, 2 or 3 dimensions, a multiple of 32 threads, at most
// 1024); `scratch` is 32 words of shared memory.
__device__ __forceinline__ void block_atomic_max(uint32_t value, uint32_t* scratch, uint32_t* bits) {
  for (int offset = 16; offset > 0; offset /= 2) value = max(value, __shfl_down_sync(0xffffffffu, value, offset));
  const unsigned t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const unsigned lane = t & 31u, warp = t >> 5, warps = (blockDim.x * blockDim.y * blockDim.z) >> 5;
  __syncthreads();  // an earlier use of scratch may still be reading it
  if (lane == 0) scratch[warp] = value;
  __syncthreads();
  if (warp == 0) {
    value = lane < warps ? scratch[lane] : 0u;
    for (int offset = 16; offset > 0; offset /= 2) value = max(value, __shfl_down_sync(0xffffffffu, value, offset));
    if (lane == 0) atomicMax(bits, value);
  }
}
#endif

}  // namespace convlab::cka_cuda
