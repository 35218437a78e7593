// Centring one block of feature columns on the device, as the Gram products read them.
// CPU twin: centre_columns (framework/cka/features.cpp); both take the shift from
// kernels::column_shift.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace convlab::cka_cuda {

// Queues on `stream`: out (rows, width) f32, row-major = columns [first, first + width) of x
// (rows, cols) f32, row-major, each minus its mean (summed in f64; a constant column becomes
// exactly zero), times kernels::range_scale of the layer's largest magnitude, whose f32 bits
// *max_abs_bits holds (range_scale.h). Sets *nonfinite to 1 when a column holds a NaN or
// infinity, and leaves it alone otherwise.
void centre_column_block(const float* x, int64_t rows, int64_t cols, int64_t first, int64_t width,
                         const uint32_t* max_abs_bits, float* out, int32_t* nonfinite, cudaStream_t stream);

}  // namespace convlab::cka_cuda
