#include "framework/rsa/cuda/row_centring.h"

#include <algorithm>

#include "framework/backend/cuda/cuda_check.h"
#include "framework/cka/cuda/block_sum.cuh"
#include "framework/cka/cuda/launch.h"
#include "framework/cka/cuda/range_scale.h"
#include "kernels/gram.h"

namespace convlab::rsa_cuda {
namespace {

using cka_cuda::block_sum;
using cka_cuda::kThreads;

// Wide blocks for layers of fewer rows than kFewRows and at least kManyColumns columns (k =
// 100 examples of 98304 features: 100 blocks of 1024 threads instead of 256).
constexpr int kWideThreads = 1024;
constexpr int64_t kFewRows = 1024;
constexpr int64_t kManyColumns = 8192;

// A block per row (grid-stride over rows): the f64 sum and whether every value equals the
// first; each thread keeps the largest magnitude it saw, and the block adds it with one atomic.
__global__ void __launch_bounds__(kWideThreads)
    row_shifts_kernel(const float* x, int64_t rows, int64_t cols, float* shift, uint32_t* max_abs_bits,
                      int32_t* nonfinite) {
  __shared__ double scratch[32];
  __shared__ int scratch_count[32];
  __shared__ uint32_t scratch_max[32];
  uint32_t largest = 0;
  for (int64_t i = blockIdx.x; i < rows; i += gridDim.x) {
    const float* row = x + i * cols;
    const float first = row[0];
    double sum = 0.0;
    int differ = 0;
#pragma unroll 4
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const float v = row[c];
      sum += static_cast<double>(v);
      differ |= v != first ? 1 : 0;
      largest = max(largest, cka_cuda::magnitude_bits(v));
    }
    sum = block_sum(sum, scratch);
    differ = block_sum(differ, scratch_count);
    if (threadIdx.x == 0) {
      if (!isfinite(sum)) *nonfinite = 1;
      shift[i] = kernels::column_shift(first, sum, cols, differ == 0);
    }
  }
  cka_cuda::block_atomic_max(largest, scratch_max, max_abs_bits);
}

__global__ void centre_row_block_kernel(const float* x, int64_t rows, int64_t cols, int64_t first, int64_t width,
                                        const float* shift, const uint32_t* bits, float* out) {
  const double scale = kernels::range_scale(static_cast<double>(__uint_as_float(*bits)));
  CKA_FOR_EACH(index, rows * width) {
    const int64_t i = index / width, c = index - i * width;
    out[index] = static_cast<float>(static_cast<double>(x[i * cols + first + c] - shift[i]) * scale);
  }
}

}  // namespace

void row_shifts(const float* x, int64_t rows, int64_t cols, float* shift, uint32_t* max_abs_bits,
                int32_t* nonfinite, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  const unsigned grid = static_cast<unsigned>(std::min<int64_t>(rows, 65535));
  const int threads = rows < kFewRows && cols >= kManyColumns ? kWideThreads : kThreads;
  row_shifts_kernel<<<grid, threads, 0, stream>>>(x, rows, cols, shift, max_abs_bits, nonfinite);
  CUDA_CHECK_LAUNCH();
}

void centre_row_block(const float* x, int64_t rows, int64_t cols, int64_t first, int64_t width, const float* shift,
                      const uint32_t* max_abs_bits, float* out, cudaStream_t stream) {
  if (rows <= 0 || width <= 0) return;
  centre_row_block_kernel<<<cka_cuda::grid_for(rows * width), kThreads, 0, stream>>>(x, rows, cols, first, width,
                                                                                      shift, max_abs_bits, out);
  CUDA_CHECK_LAUNCH();
}

}  // namespace convlab::rsa_cuda
