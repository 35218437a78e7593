#include "framework/cka/cuda/column_centring.h"

#include <algorithm>

#include "framework/backend/cuda/cuda_check.h"
#include "framework/cka/cuda/launch.h"
#include "framework/cka/cuda/range_scale.h"
#include "kernels/gram.h"

namespace convlab::cka_cuda {
namespace {

// Statistics: a block is 32 columns (threadIdx.x, so that a warp reads 128 contiguous bytes
// of a row) by kRowGroups threads that split the slice's rows between them, row group g taking
// rows first + g, first + g + kRowGroups, ...
constexpr int kColumns = 32;
constexpr int kRowGroups = kColumnStatisticsRowGroups;
// Slices: about kTargetBlocks statistics blocks in all, at most kMaxSlices, each at least
// kMinSliceRows rows (4 per row group).
constexpr int64_t kTargetBlocks = 1024;
constexpr int64_t kMaxSlices = 64;
constexpr int64_t kMinSliceRows = 64;
// Centring: 32 columns by kCentreRowGroups rows per block, each thread about kCentreRowsPerThread rows.
constexpr int kCentreRowGroups = 8;
constexpr int64_t kCentreRowsPerThread = 4;

int64_t rows_per_slice(int64_t rows, int64_t slices) { return (rows + slices - 1) / slices; }

// Grid (column tiles, slices), block (kColumns, kRowGroups).
__global__ void __launch_bounds__(kColumns * kRowGroups)
    column_statistics_kernel(const float* x, int64_t rows, int64_t cols, int64_t slice_rows, double* sums,
                             uint8_t* constant, uint32_t* max_abs_bits) {
  __shared__ double partial_sum[kRowGroups][kColumns];
  __shared__ bool partial_constant[kRowGroups][kColumns];
  __shared__ uint32_t scratch[32];
  const int tx = static_cast<int>(threadIdx.x), ty = static_cast<int>(threadIdx.y);
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kColumns + tx;
  const int64_t slice = blockIdx.y;
  const int64_t begin = slice * slice_rows, end = begin + slice_rows < rows ? begin + slice_rows : rows;
  const bool active = c < cols;
  double sum = 0.0;
  bool same = true;
  uint32_t largest = 0;
  if (active) {
    const float first_value = x[c];
#pragma unroll 4
    for (int64_t i = begin + ty; i < end; i += kRowGroups) {
      const float v = x[i * cols + c];
      sum += static_cast<double>(v);
      same = same && v == first_value;
      largest = max(largest, magnitude_bits(v));
    }
  }
  partial_sum[ty][tx] = sum;
  partial_constant[ty][tx] = same;
  block_atomic_max(largest, scratch, max_abs_bits);  // its barriers also publish the partials
  if (ty == 0 && active) {
    // The row groups' partial sums, always added in the same order.
    double total = 0.0;
    bool all_equal = true;
    for (int g = 0; g < kRowGroups; ++g) {
      total += partial_sum[g][tx];
      all_equal = all_equal && partial_constant[g][tx];
    }
    sums[slice * cols + c] = total;
    constant[slice * cols + c] = all_equal ? 1 : 0;
  }
}

// A thread per column: the slices in order.
__global__ void column_shifts_kernel(const float* x, int64_t rows, int64_t cols, int64_t slices, const double* sums,
                                     const uint8_t* constant, float* shift, int32_t* nonfinite) {
  CKA_FOR_EACH(c, cols) {
    double total = sums[c];
    bool all_equal = constant[c] != 0;
    for (int64_t s = 1; s < slices; ++s) {
      total += sums[s * cols + c];
      all_equal = all_equal && constant[s * cols + c] != 0;
    }
    if (!isfinite(total)) *nonfinite = 1;
    shift[c] = kernels::column_shift(x[c], total, rows, all_equal);
  }
}

// Grid (column tiles of the block, row groups), block (kColumns, kCentreRowGroups).
__global__ void __launch_bounds__(kColumns * kCentreRowGroups)
    centre_column_block_kernel(const float* x, int64_t rows, int64_t cols, int64_t first, int64_t width,
                               const float* shift, const uint32_t* max_abs_bits, float* out) {
  const int64_t local = static_cast<int64_t>(blockIdx.x) * kColumns + threadIdx.x;  // column within the block
  if (local >= width) return;  // no barriers below
  const int64_t c = first + local;                                                  // column of x
  const float s = shift[c];
  const double scale = kernels::range_scale(static_cast<double>(__uint_as_float(*max_abs_bits)));
  const int64_t step = static_cast<int64_t>(gridDim.y) * kCentreRowGroups;
#pragma unroll 4
  for (int64_t i = static_cast<int64_t>(blockIdx.y) * kCentreRowGroups + threadIdx.y; i < rows; i += step)
    out[i * width + local] = static_cast<float>(static_cast<double>(x[i * cols + c] - s) * scale);
}

}  // namespace

int64_t column_slices(int64_t rows, int64_t cols) {
  if (rows <= 0 || cols <= 0) return 1;
  const int64_t tiles = (cols + kColumns - 1) / kColumns;
  int64_t slices = (kTargetBlocks + tiles - 1) / tiles;
  slices = std::min(slices, kMaxSlices);
  slices = std::min(slices, std::max<int64_t>(1, rows / kMinSliceRows));
  slices = std::max<int64_t>(slices, 1);
  // No empty slice: as many as ceil(rows / rows_per_slice) (already so for rows >= 64 slices).
  return (rows + rows_per_slice(rows, slices) - 1) / rows_per_slice(rows, slices);
}

void column_statistics(const float* x, int64_t rows, int64_t cols, double* sums, uint8_t* constant,
                       uint32_t* max_abs_bits, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  const int64_t slices = column_slices(rows, cols);
  const int64_t tiles = (cols + kColumns - 1) / kColumns;
  CONVLAB_CHECK(tiles <= 0x7fffffff, "{} feature columns are more than the CUDA centring takes", cols);
  const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(slices)), block(kColumns, kRowGroups);
  column_statistics_kernel<<<grid, block, 0, stream>>>(x, rows, cols, rows_per_slice(rows, slices), sums, constant,
                                                       max_abs_bits);
  CUDA_CHECK_LAUNCH();
}

void column_shifts(const float* x, int64_t rows, int64_t cols, const double* sums, const uint8_t* constant,
                   float* shift, int32_t* nonfinite, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  column_shifts_kernel<<<grid_for(cols), kThreads, 0, stream>>>(x, rows, cols, column_slices(rows, cols), sums,
                                                                constant, shift, nonfinite);
  CUDA_CHECK_LAUNCH();
}

void centre_column_block(const float* x, int64_t rows, int64_t cols, int64_t first, int64_t width,
                         const float* shift, const uint32_t* max_abs_bits, float* out, cudaStream_t stream) {
  if (rows <= 0 || width <= 0) return;
  CONVLAB_CHECK(first >= 0 && first + width <= cols, "columns [{}, {}) of a layer of {}", first, first + width, cols);
  const int64_t tiles = (width + kColumns - 1) / kColumns;
  CONVLAB_CHECK(tiles <= 0x7fffffff, "{} feature columns are more than the CUDA centring takes", width);
  const int64_t row_blocks = std::min<int64_t>(
      (rows + kCentreRowGroups * kCentreRowsPerThread - 1) / (kCentreRowGroups * kCentreRowsPerThread), 65535);
  const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(row_blocks)), block(kColumns, kCentreRowGroups);
  centre_column_block_kernel<<<grid, block, 0, stream>>>(x, rows, cols, first, width, shift, max_abs_bits, out);
  CUDA_CHECK_LAUNCH();
}

}  // namespace convlab::cka_cuda
