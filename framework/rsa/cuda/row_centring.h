// Centring each example's features by its own mean on the device, one block of feature
// columns at a time, as the Gram products read them. CPU twin: rsa::centre_rows
// (../row_centring.h); both take the shift from kernels::column_shift and the scale from
// kernels::range_scale.
//
// Cost per layer (rows, cols): row_shifts reads the features once (sums, constant rows and the
// largest magnitude together); centre_row_block then reads each block of columns once and
// writes it once.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace convlab::rsa_cuda {

// Queues on `stream`: shift (rows) f32 = each row's mean over its cols values (summed in f64),
// or its value for a constant row; *max_abs_bits = max(*max_abs_bits, bits of max |x|)
// (cka_cuda::max_abs's convention: set it to 0 first). Sets *nonfinite to 1 for a NaN or
// infinite row sum. A block per row (grid-stride over the rows), of 1024 threads for layers of
// few rows and many columns, else 256: the choice depends on the shape only, so each row's
// sum is added in the same order on every run.
void row_shifts(const float* x, int64_t rows, int64_t cols, float* shift, uint32_t* max_abs_bits,
                int32_t* nonfinite, cudaStream_t stream);

// Queues on `stream`: out (rows, width) f32 row-major = (x[:, first : first + width] - shift)
// times the range scale of the layer's largest magnitude (f32 bits in *max_abs_bits).
void centre_row_block(const float* x, int64_t rows, int64_t cols, int64_t first, int64_t width, const float* shift,
                      const uint32_t* max_abs_bits, float* out, cudaStream_t stream);

}  // namespace convlab::rsa_cuda
