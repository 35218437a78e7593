// Launch geometry shared by the CKA kernels: one-dimensional blocks of kThreads threads, and
// grid-stride loops over the elements, so any size runs on a bounded grid. Included by the
// host code too (kMaxGramSide); the device parts need nvcc.
#pragma once

#include <algorithm>
#include <cstdint>

namespace convlab::cka_cuda {

// A multiple of the warp size, as block_sum needs.
constexpr int kThreads = 256;

// The largest number of examples per batch: an (n, n) Gram then has fewer than 2^31 entries,
// so cuBLAS's int dimensions hold G's row length n^2, and kernels index entries in 32 bits.
constexpr int64_t kMaxGramSide = 46340;

// Blocks for a grid-stride loop over n elements: one element per thread up to a cap, beyond
// which the threads loop.
inline unsigned grid_for(int64_t n) {
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>((n + kThreads - 1) / kThreads, 65535 * 8)));
}

#if defined(__CUDACC__)
// Row and column of entry `index` of an (n, n) row-major matrix, n <= kMaxGramSide: a 32-bit
// division, many times cheaper on the GPU than a 64-bit one.
__device__ __forceinline__ void row_and_column(int64_t index, int64_t n, int64_t& row, int64_t& column) {
  const uint32_t q = static_cast<uint32_t>(index) / static_cast<uint32_t>(n);
  row = q;
  column = index - static_cast<int64_t>(q) * n;
}
#endif

}  // namespace convlab::cka_cuda

// Grid-stride loop over n elements.
#define CKA_FOR_EACH(i, n) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)
