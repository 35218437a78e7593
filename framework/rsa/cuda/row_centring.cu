#include "framework/rsa/cuda/row_centring.h"

#include "framework/backend/cuda/cuda_check.h"
#include "framework/cka/cuda/block_sum.cuh"
#include "framework/cka/cuda/launch.h"
#include "kernels/gram.h"

namespace convlab::rsa_cuda {
namespace {

using cka_cuda::block_sum;
using cka_cuda::kThreads;

// A block per row (grid-stride over rows): the f64 sum and whether every value equals the first.
__global__ void row_shifts_kernel(const float* x, int64_t rows, int64_t cols, float* shift, int32_t* nonfinite) {
  __shared__ double scratch[32];
  __shared__ int scratch_count[32];
  for (int64_t i = blockIdx.x; i < rows; i += gridDim.x) {
    const float* row = x + i * cols;
    const float first = row[0];
    double sum = 0.0;
    int differ = 0;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      sum += static_cast<double>(row[c]);
      differ += row[c] != first ? 1 : 0;
    }
    sum = block_sum(sum, scratch);
    differ = block_sum(differ, scratch_count);
    if (threadIdx.x == 0) {
      if (!isfinite(sum)) *nonfinite = 1;
      shift[i] = kernels::column_shift(first, sum, cols, differ == 0);
    }
  }
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

void row_shifts(const float* x, int64_t rows, int64_t cols, float* shift, int32_t* nonfinite, cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  const unsigned grid = static_cast<unsigned>(std::min<int64_t>(rows, 65535));
  row_shifts_kernel<<<grid, kThreads, 0, stream>>>(x, rows, cols, shift, nonfinite);
  CUDA_CHECK_LAUNCH();
}

void centre_row_block(const float* x, int64_t rows, int64_t cols, int64_t first, int64_t width, const float* shift,
                      const uint32_t* max_abs_bits, float* out, cudaStream_t stream) {
  if (rows == 0 || width == 0) return;
  centre_row_block_kernel<<<cka_cuda::grid_for(rows * width), kThreads, 0, stream>>>(x, rows, cols, first, width,
                                                                                      shift, max_abs_bits, out);
  CUDA_CHECK_LAUNCH();
}

}  // namespace convlab::rsa_cuda
