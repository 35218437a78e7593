#include "framework/linalg/cuda/gram_f64_kernels.h"

#include <algorithm>

#include "framework/backend/cuda/cuda_check.h"
#include "framework/cka/cuda/launch.h"
#include "kernels/gram_f64.h"

namespace convlab::linalg_cuda {
namespace {

using cka_cuda::grid_for;
using cka_cuda::kThreads;

constexpr int kColumns = 32;    // columns per block of the mean kernel: one warp reads 32 adjacent values
constexpr int kRowThreads = 8;  // rows read at once per block

// partial[s][j]: the sum over slice s of the rows of scaled column j, each thread summing its
// rows in order, then the block's kRowThreads sums in order.
__global__ void __launch_bounds__(kColumns* kRowThreads)
    slice_sums_kernel(const float* x, int64_t n, int64_t p, int64_t first, int64_t width, int exponent,
                      double factor, int64_t slice_rows, double* partial) {
  __shared__ double sums[kRowThreads][kColumns];
  const int64_t j = blockIdx.x * int64_t(kColumns) + threadIdx.x;
  const int64_t begin = blockIdx.y * slice_rows, end = min(n, begin + slice_rows);
  double sum = 0.0;
  if (j < width)
    for (int64_t i = begin + threadIdx.y; i < end; i += kRowThreads)
      sum += kernels::gram_scaled_feature(static_cast<double>(x[i * p + first + j]), exponent, factor);
  sums[threadIdx.y][threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.y == 0 && j < width) {
    double total = 0.0;
    for (int r = 0; r < kRowThreads; ++r) total += sums[r][threadIdx.x];
    partial[blockIdx.y * width + j] = total;
  }
}

// partial[0][j] = the mean of column j: its slices' sums in order, over n.
__global__ void means_kernel(double* partial, int64_t width, int slices, int64_t n) {
  CKA_FOR_EACH(j, width) {
    double total = 0.0;
    for (int s = 0; s < slices; ++s) total += partial[s * width + j];
    partial[j] = total / static_cast<double>(n);
  }
}

__global__ void widen_kernel(const float* x, int64_t n, int64_t p, int64_t first, int64_t width, int exponent,
                             double factor, const double* means, double* block) {
  CKA_FOR_EACH(index, n * width) {
    const int64_t i = index / width, j = index - i * width;
    const double v = kernels::gram_scaled_feature(static_cast<double>(x[i * p + first + j]), exponent, factor);
    block[index] = means ? v - means[j] : v;
  }
}

__global__ void mirror_kernel(double* gram, int64_t n) {
  CKA_FOR_EACH(index, n * n) {
    int64_t row = 0, column = 0;
    cka_cuda::row_and_column(index, n, row, column);
    if (column > row) gram[index] = gram[column * n + row];
  }
}

__global__ void divide_kernel(double* a, int64_t count, double by) {
  CKA_FOR_EACH(i, count) a[i] = a[i] / by;
}

// splitmix64's finaliser: every input bit affects every output bit.
__device__ __forceinline__ uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// One block per row: the wrapping sum over j of mix(bits of x_ij, j), an order-free (so
// schedule-free) hash in which each value counts at its own position.
__global__ void __launch_bounds__(kThreads) row_hash_kernel(const float* x, int64_t p, uint64_t* hashes) {
  __shared__ uint64_t scratch[kThreads / 32];
  const float* row = x + blockIdx.x * p;
  uint64_t h = 0;
  for (int64_t j = threadIdx.x; j < p; j += kThreads)
    h += mix((static_cast<uint64_t>(j) << 32) ^ __float_as_uint(row[j]));
  for (int offset = 16; offset > 0; offset /= 2) h += __shfl_down_sync(0xffffffffu, h, offset);
  if ((threadIdx.x & 31) == 0) scratch[threadIdx.x / 32] = h;
  __syncthreads();
  if (threadIdx.x == 0) {
    uint64_t total = 0;
    for (int w = 0; w < kThreads / 32; ++w) total += scratch[w];
    hashes[blockIdx.x] = mix(total ^ static_cast<uint64_t>(p));
  }
}

}  // namespace

void widen_block(const float* x, int64_t n, int64_t p, int64_t first, int64_t width, int exponent, bool centre,
                 double* partial, double* block, cudaStream_t stream) {
  if (n == 0 || width == 0) return;
  const double factor = kernels::gram_scale_by_factor(exponent) ? ldexp(1.0, -exponent) : 0.0;
  const double* means = nullptr;
  if (centre) {
    const int64_t slice_rows = std::max<int64_t>(kRowThreads, (n + kMeanSlices - 1) / kMeanSlices);
    const unsigned slices = static_cast<unsigned>((n + slice_rows - 1) / slice_rows);
    const dim3 grid(static_cast<unsigned>((width + kColumns - 1) / kColumns), slices);
    slice_sums_kernel<<<grid, dim3(kColumns, kRowThreads), 0, stream>>>(x, n, p, first, width, exponent, factor,
                                                                        slice_rows, partial);
    CUDA_CHECK_LAUNCH();
    means_kernel<<<grid_for(width), kThreads, 0, stream>>>(partial, width, static_cast<int>(slices), n);
    CUDA_CHECK_LAUNCH();
    means = partial;
  }
  widen_kernel<<<grid_for(n * width), kThreads, 0, stream>>>(x, n, p, first, width, exponent, factor, means, block);
  CUDA_CHECK_LAUNCH();
}

void mirror_lower(double* gram, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  mirror_kernel<<<grid_for(n * n), kThreads, 0, stream>>>(gram, n);
  CUDA_CHECK_LAUNCH();
}

void divide(double* a, int64_t count, double by, cudaStream_t stream) {
  if (count == 0) return;
  divide_kernel<<<grid_for(count), kThreads, 0, stream>>>(a, count, by);
  CUDA_CHECK_LAUNCH();
}

void row_hashes(const float* x, int64_t n, int64_t p, uint64_t* hashes, cudaStream_t stream) {
  if (n == 0) return;
  row_hash_kernel<<<static_cast<unsigned>(n), kThreads, 0, stream>>>(x, p, hashes);
  CUDA_CHECK_LAUNCH();
}

}  // namespace convlab::linalg_cuda
