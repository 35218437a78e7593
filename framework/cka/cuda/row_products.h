// out = scale * A A^T for the rows of a short, wide matrix A (R, D) f64 on the device: the
// final product of the CKA and RSA accumulators, R layers by D = k^2 (CKA) or k (k - 1) / 2
// (RSA) terms. One GEMM with so long and thin an inner dimension may leave most SMs idle, so
// a long D is cut into S chunks (about two per SM, each at least kMinRowProductChunk long):
// their (R, R) partial products come from one cublasDgemmStridedBatched (and one more
// cublasDgemm for a shorter last chunk), and a small kernel sums the S partials in a fixed
// order, so the result has the same bits on every run. A short D is one cublasDgemm.
//
// Cost: 2 R^2 D flops over A (8 R D bytes, which cuBLAS reads as both operands); scratch S R^2
// doubles.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace convlab::cka_cuda {

// Chunks are at least this long: shorter ones gain nothing from another SM.
inline constexpr int64_t kMinRowProductChunk = 8192;
// Chunks per SM for a long D.
inline constexpr int64_t kRowProductChunksPerSm = 2;

// How D is cut: `full` chunks of `chunk` terms, then one of `remainder` (0: none). A single
// chunk (full 1, remainder 0) means no split.
struct RowProductSplit {
  int64_t chunk = 0, full = 0, remainder = 0;
  int64_t partials() const { return full + (remainder > 0 ? 1 : 0); }
};
RowProductSplit row_product_split(int64_t d, int multiprocessors);

// Device scratch symmetric_row_products needs, in doubles: S R^2, or 0 without a split.
int64_t symmetric_row_products_workspace_doubles(int64_t r, int64_t d, int multiprocessors);

// Queues on `stream`, which must be the handle's (the handle may be shared; this sets its host
// pointer mode and default math mode): out (R, R) f64 = scale * rows rows^T, rows (R, D)
// row-major. The product is symmetric; with a split, exactly (entries (i, j) and (j, i) both
// sum the partials' upper triangle). workspace holds at least
// symmetric_row_products_workspace_doubles(r, d, multiprocessors) doubles, the same
// `multiprocessors`. Needs 1 <= r and 1 <= d <= INT_MAX (cuBLAS's int leading dimension).
void symmetric_row_products(cublasHandle_t handle, const double* rows, int64_t r, int64_t d, double scale,
                            double* out, double* workspace, int64_t workspace_doubles, int multiprocessors,
                            cudaStream_t stream);

}  // namespace convlab::cka_cuda
