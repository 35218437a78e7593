// The element-wise and reduction steps of the Procrustes distance on the device, around the
// cuBLAS products and cuSOLVER eigendecompositions of CudaProcrustesAccumulator. CPU twin:
// procrustes::factor and procrustes::nuclear_norm (../procrustes.h); both take the per-element
// math from kernels/procrustes.h. Reductions run in one block in a fixed order, so the same
// input gives the same bits on every run.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace convlab::procrustes_cuda {

// Queues: out (count) f64 = centred (count) f32 / ||centred||_F; *constant = 1 for a zero norm.
// slot: one device double of scratch.
void normalise_features(const float* centred, int64_t count, double* out, int32_t* constant, double* slot,
                        cudaStream_t stream);

// Queues: gram (n, n) f64 /= its trace; *constant = 1 and gram = 0 for a trace that is not
// positive and finite (constant features; NaN or infinite ones, which the caller's non-finite
// flag reports), so that the eigendecomposition after it always gets finite input.
// slot: one device double of scratch.
void normalise_gram(double* gram, int64_t n, int32_t* constant, double* slot, cudaStream_t stream);

// Queues: factor (n, n) row-major, factor[i][j] = vectors[i + j n] sqrt(floored lambda_j), from
// cuSOLVER's column-major eigenvectors and ascending eigenvalues lambda (n).
void factor_from_eigen(const double* vectors, const double* lambda, int64_t n, double* factor, cudaStream_t stream);

// Queues: *out = sum of sqrt(floored lambda_i) over the ascending eigenvalues lambda (n): the
// nuclear norm of C from those of C C^T.
void nuclear_from_eigenvalues(const double* lambda, int64_t n, double* out, cudaStream_t stream);

// Queues: *out = sum of f_i^2 over count values.
void squared_norm(const double* f, int64_t count, double* out, cudaStream_t stream);

}  // namespace convlab::procrustes_cuda
