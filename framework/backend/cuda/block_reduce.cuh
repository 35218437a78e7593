// Sums across a warp and across a block in a fixed tree, so that the same inputs give the
// same bits on every run (no atomics, no order that depends on scheduling).
#pragma once

#include <cuda_runtime.h>

namespace convlab::backend_cuda {

// Sum over the 32 lanes of a full warp; the total is valid in lane 0.
template <class T>
__device__ __forceinline__ T warp_sum(T value) {
  for (int offset = 16; offset > 0; offset /= 2) value += __shfl_down_sync(0xffffffffu, value, offset);
  return value;
}

// Sum over the block; the total is valid in thread 0. Every thread of the block must call
// it (blockDim.x a multiple of 32, at most 1024). `scratch` is 32 elements of shared
// memory; it may be reused by the next call, which synchronises before writing.
template <class T>
__device__ T block_sum(T value, T* scratch) {
  value = warp_sum(value);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();  // a previous call may still be reading scratch
  if (lane == 0) scratch[warp] = value;
  __syncthreads();
  const int warps = static_cast<int>(blockDim.x >> 5);
  value = static_cast<int>(threadIdx.x) < warps ? scratch[threadIdx.x] : T(0);
  if (warp == 0) value = warp_sum(value);
  return value;
}

}  // namespace convlab::backend_cuda
