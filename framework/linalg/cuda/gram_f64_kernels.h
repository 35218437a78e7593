// The kernels of the float64 Grams on the device (DeviceBatchGrams): a block of a layer's f32
// features widened to f64, scaled by a power of two and optionally centred per column, for
// cuBLAS's DSYRK; the mirror of DSYRK's triangle; the division by the trace; and a hash of
// each example's features that finds candidate exact copies. CPU twins: linalg::gram_f64 and
// linalg::first_copies. All queue on `stream`.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace convlab::linalg_cuda {

// Queues: block (n, width) f64 row-major = columns [first, first + width) of x (n, p) f32
// row-major, each value kernels::gram_scaled_feature(v, exponent, 2^-exponent), minus its
// column's mean over the n rows when `centre`. partial: (kMeanSlices, width) f64 scratch.
// The means are summed in a fixed order (per slice of rows, then the slices in order), so a
// run repeats bit for bit.
constexpr int kMeanSlices = 64;
void widen_block(const float* x, int64_t n, int64_t p, int64_t first, int64_t width, int exponent, bool centre,
                 double* partial, double* block, cudaStream_t stream);

// Queues: gram (n, n) f64, of which cuBLAS filled the column-major upper triangle (the
// row-major lower one), made symmetric.
void mirror_lower(double* gram, int64_t n, cudaStream_t stream);

// Queues: a[i] = a[i] / by, as the CPU's `v /= trace`.
void divide(double* a, int64_t count, double by, cudaStream_t stream);

// Queues: hashes[i] = a 64-bit hash of the bits of row i of x (n, p) f32: rows of equal bits
// hash equally; equal hashes are candidates, to be confirmed by comparing the rows.
void row_hashes(const float* x, int64_t n, int64_t p, uint64_t* hashes, cudaStream_t stream);

}  // namespace convlab::linalg_cuda
