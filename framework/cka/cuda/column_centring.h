// Centring feature columns on the device, as the Gram products read them. CPU twin:
// centre_columns (framework/cka/features.cpp); both take the shift from kernels::column_shift
// and the scale from kernels::range_scale.
//
// Three steps over a layer x (rows, cols) f32 row-major, on buffers the caller owns
// (cka::DeviceGram holds them):
//   1. column_statistics: the one read of the whole layer. The rows are split into `slices`
//      (column_slices) so that narrow layers still fill the GPU: a block per 32 columns and
//      slice writes each column's f64 sum over the slice and whether every value of it equals
//      the column's first value, and folds the layer's largest magnitude into *max_abs_bits
//      (one atomicMax per block).
//   2. column_shifts: per column, the slices' partials added in slice order (a fixed order,
//      so the same bits on every run and every GPU: `slices` depends on the shape only), the
//      shift kernels::column_shift, and the non-finite check; it reads (slices, cols) partials,
//      not the features.
//   3. centre_column_block, per block of columns: one read of those columns and one write of
//      the centred, range-scaled block, on a 2D grid over columns and row groups.
// With one slice the sums, shifts and blocks are bit for bit those of a single pass of 16
// row groups per column. With more, the f64 sums are added in another order and may round
// differently in their last bit, so a shift (the f32 rounding of sum / rows) can differ in its
// last bit in rare cases; the CPU twin sums in yet another order. The Gram centring removes any
// per-column constant, so HSIC does not see it.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace convlab::cka_cuda {

// The summation order of column_statistics (tests replay it): within a slice of rows
// [begin, end), row group g = 0 .. 15 sums rows begin + g, begin + g + 16, ... in f64 from
// 0.0, and the slice's sum is 0.0 + group 0 + group 1 + ... + group 15; column_shifts adds the
// slices' sums in slice order, starting from slice 0's. Slice s holds rows
// [s * ceil(rows / slices), min(rows, (s + 1) * ceil(rows / slices))).
constexpr int kColumnStatisticsRowGroups = 16;

// The number of row slices column_statistics splits `rows` into for a layer of `cols`
// columns: enough blocks (about 1024) to fill a large GPU, at most 64, each slice at least 64
// rows, and none empty. Depends on the shape only.
int64_t column_slices(int64_t rows, int64_t cols);

// Queues on `stream`: for each slice s of column_slices(rows, cols) and column c of x (rows,
// cols) f32 row-major, sums[s * cols + c] (f64) = the sum of x over the slice's rows in
// column c, and constant[s * cols + c] = 1 when every one of them equals x[0, c], else 0;
// *max_abs_bits = max(*max_abs_bits, bits of max |x|) (range_scale.h).
void column_statistics(const float* x, int64_t rows, int64_t cols, double* sums, uint8_t* constant,
                       uint32_t* max_abs_bits, cudaStream_t stream);

// Queues on `stream`: shift (cols) f32 = kernels::column_shift of each column from the
// partials of column_statistics (the column's mean, or its value when constant, which then
// centres to exactly zero). Sets *nonfinite to 1 when a column's sum is not finite (a NaN or
// infinity in it), and leaves it alone otherwise.
void column_shifts(const float* x, int64_t rows, int64_t cols, const double* sums, const uint8_t* constant,
                   float* shift, int32_t* nonfinite, cudaStream_t stream);

// Queues on `stream`: out (rows, width) f32, row-major = columns [first, first + width) of x
// (rows, cols) f32 row-major, each minus its shift[first + c], times kernels::range_scale of
// the layer's largest magnitude, whose f32 bits *max_abs_bits holds.
void centre_column_block(const float* x, int64_t rows, int64_t cols, int64_t first, int64_t width,
                         const float* shift, const uint32_t* max_abs_bits, float* out, cudaStream_t stream);

}  // namespace convlab::cka_cuda
