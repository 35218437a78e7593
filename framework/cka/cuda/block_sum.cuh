// A block-wide sum in a fixed order (a shuffle tree per warp, then one over the warps), so
// that the same inputs give the same bits in every block and on every run: the CKA kernels
// recompute small totals in each block instead of passing them through atomics.
#pragma once

#include <cuda_runtime.h>

namespace convlab::cka_cuda {

// Every thread of a one-dimensional block calls it (blockDim.x a multiple of 32, at most
// 1024); the total is returned to every thread. `scratch` is 32 values of shared memory.
template <class T>
__device__ T block_sum(T value, T* scratch) {
  for (int offset = 16; offset > 0; offset /= 2) value += __shfl_down_sync(0xffffffffu, value, offset);
  const int lane = static_cast<int>(threadIdx.x) & 31, warp = static_cast<int>(threadIdx.x) >> 5;
  __syncthreads();  // an earlier call may still be reading scratch
  if (lane == 0) scratch[warp] = value;
  __syncthreads();
  if (warp == 0) {
    value = lane < static_cast<int>(blockDim.x >> 5) ? scratch[lane] : T(0);
    for (int offset = 16; offset > 0; offset /= 2) value += __shfl_down_sync(0xffffffffu, value, offset);
    if (lane == 0) scratch[0] = value;
  }
  __syncthreads();
  return scratch[0];
}

}  // namespace convlab::cka_cuda
