#include "framework/cka/cuda/column_centring.h"

#include "framework/backend/cuda/cuda_check.h"
#include "kernels/gram.h"

namespace convlab::cka_cuda {
namespace {

// A block is 32 columns (threadIdx.x, so that a warp reads 128 contiguous bytes of a row)
// by kRowGroups threads that split the rows between them.
constexpr int kColumns = 32;
constexpr int kRowGroups = 16;

__global__ void centre_column_block_kernel(const float* x, int64_t rows, int64_t cols, int64_t first,
                                           int64_t width, const uint32_t* max_abs_bits, float* out,
                                           int32_t* nonfinite) {
  __shared__ double partial_sum[kRowGroups][kColumns];
  __shared__ bool partial_constant[kRowGroups][kColumns];
  __shared__ float shift[kColumns];
  const int tx = static_cast<int>(threadIdx.x), ty = static_cast<int>(threadIdx.y);
  const int64_t local = static_cast<int64_t>(blockIdx.x) * kColumns + tx;  // column within the block
  const bool active = local < width;
  const int64_t c = first + local;                                         // column of x
  double sum = 0.0;
  bool constant = true;
  if (active) {
    const float first_value = x[c];
    for (int64_t i = ty; i < rows; i += kRowGroups) {
      const float v = x[i * cols + c];
      sum += static_cast<double>(v);
      constant = constant && v == first_value;
    }
  }
  partial_sum[ty][tx] = sum;
  partial_constant[ty][tx] = constant;
  __syncthreads();
  if (ty == 0 && active) {
    // The row groups' partial sums, always added in the same order.
    double total = 0.0;
    bool all_equal = true;
    for (int g = 0; g < kRowGroups; ++g) {
      total += partial_sum[g][tx];
      all_equal = all_equal && partial_constant[g][tx];
    }
    if (!isfinite(total)) *nonfinite = 1;
    shift[tx] = kernels::column_shift(x[c], total, rows, all_equal);
  }
  __syncthreads();
  if (!active) return;
  const float s = shift[tx];
  const double scale = kernels::range_scale(static_cast<double>(__uint_as_float(*max_abs_bits)));
  for (int64_t i = ty; i < rows; i += kRowGroups)
    out[i * width + local] = static_cast<float>(static_cast<double>(x[i * cols + c] - s) * scale);
}

}  // namespace

void centre_column_block(const float* x, int64_t rows, int64_t cols, int64_t first, int64_t width,
                         const uint32_t* max_abs_bits, float* out, int32_t* nonfinite, cudaStream_t stream) {
  if (rows == 0 || width == 0) return;
  const dim3 block(kColumns, kRowGroups);
  const dim3 grid(static_cast<unsigned>((width + kColumns - 1) / kColumns));
  centre_column_block_kernel<<<grid, block, 0, stream>>>(x, rows, cols, first, width, max_abs_bits, out,
                                                                           nonfinite);
  CUDA_CHECK_LAUNCH();
}

}  // namespace convlab::cka_cuda
