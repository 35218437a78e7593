// Centring one block of feature columns on the device, as the Gram products read them.
// CPU twin: centre_columns (framework/cka/features.cpp); both take the shift from
// kernels::column_shift.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace convlab::cka_cuda {

// Queues on `stream`: out (rows, width) f32, row-major = columns [first, first + width) of x
// (rows, cols) f32, row-major, each minus its mean (summed in f64; a constant column becomes
// exactly zero). Sets *nonfinite to 1 when a column holds a NaN or infinity, and leaves it
// alone otherwise.
void centre_column_block(const float* x, int64_t rows, int64_t cols, int64_t first, int64_t width, float* out,
                         int32_t* nonfinite, cudaStream_t stream);

}  // namespace convlab::cka_cuda
