#include "framework/cka/cuda/row_products.h"

#include <algorithm>
#include <climits>

#include "framework/backend/cuda/cuda_check.h"
#include "framework/cka/cuda/launch.h"

namespace convlab::cka_cuda {
namespace {

// Chunk starts on multiples of 256 doubles (2 KiB), so that every chunk's operand is as well
// aligned as the matrix itself.
constexpr int64_t kChunkAlign = 256;

// out (R, R) row-major = scale * the sum of the S partials (R, R) column-major, s = 0, 1, ...
// in turn. Entries (i, j) and (j, i) both read the partials' upper triangle (row <= column),
// so the result is exactly symmetric.
__global__ void sum_partials_kernel(const double* partials, int64_t r, int64_t count, double scale, double* out) {
  const int64_t rr = r * r;
  CKA_FOR_EACH(e, rr) {
    const int64_t i = e / r, j = e - (e / r) * r;
    const int64_t low = i < j ? i : j, high = i < j ? j : i;
    const int64_t at = low + high * r;
    double sum = partials[at];
    for (int64_t s = 1; s < count; ++s) sum += partials[s * rr + at];
    out[e] = scale * sum;
  }
}

void check_shape(int64_t r, int64_t d) {
  CONVLAB_CHECK(r >= 1 && r <= INT_MAX, "a row product of {} rows: 1 to {} are possible", r, INT_MAX);
  CONVLAB_CHECK(d >= 1 && d <= INT_MAX,
                "rows of {} terms: cuBLAS's int leading dimension holds at most {} (a batch of at most {} examples)",
                d, INT_MAX, kMaxGramSide);
}

}  // namespace

RowProductSplit row_product_split(int64_t d, int multiprocessors) {
  RowProductSplit split;
  const int64_t target = kRowProductChunksPerSm * static_cast<int64_t>(std::max(multiprocessors, 0));
  if (d < 2 * kMinRowProductChunk || target < 2) {
    split.chunk = d;
    split.full = 1;
    return split;
  }
  int64_t chunk = std::max((d + target - 1) / target, kMinRowProductChunk);
  chunk = (chunk + kChunkAlign - 1) / kChunkAlign * kChunkAlign;  // <= d: d >= 2 kMinRowProductChunk, target >= 2
  split.chunk = chunk;
  split.full = d / chunk;
  split.remainder = d - split.full * chunk;
  return split;
}

int64_t symmetric_row_products_workspace_doubles(int64_t r, int64_t d, int multiprocessors) {
  check_shape(r, d);
  const RowProductSplit split = row_product_split(d, multiprocessors);
  return split.partials() > 1 ? split.partials() * r * r : 0;
}

void symmetric_row_products(cublasHandle_t handle, const double* rows, int64_t r, int64_t d, double scale,
                            double* out, double* workspace, int64_t workspace_doubles, int multiprocessors,
                            cudaStream_t stream) {
  check_shape(r, d);
  const RowProductSplit split = row_product_split(d, multiprocessors);
  // The handle's stream is checked, not set: cublasSetStream would also drop the workspace
  // its owner gave it (cublasSetWorkspace).
  cudaStream_t handle_stream = nullptr;
  CUBLAS_CHECK(cublasGetStream(handle, &handle_stream));
  CONVLAB_CHECK(handle_stream == stream, "the cuBLAS handle runs on another stream than the row products");
  CUBLAS_CHECK(cublasSetPointerMode(handle, CUBLAS_POINTER_MODE_HOST));
  CUBLAS_CHECK(cublasSetMathMode(handle, CUBLAS_DEFAULT_MATH));
  const int n = static_cast<int>(r), lda = static_cast<int>(d);
  const double one = 1.0, zero = 0.0;
  // rows, row-major (R, D), is column-major (D, R) = A with leading dimension D, and
  // rows rows^T = A^T A. A chunk [c0, c0 + c) of the terms is the (c, R) block at A + c0,
  // leading dimension D.
  if (split.partials() == 1) {
    CUBLAS_CHECK(cublasDgemm(handle, CUBLAS_OP_T, CUBLAS_OP_N, n, n, lda, &scale, rows, lda, rows, lda, &zero, out, n));
    return;
  }
  const int64_t rr = r * r, count = split.partials();
  CONVLAB_CHECK(workspace != nullptr && workspace_doubles >= count * rr,
                "the row-product workspace holds {} doubles, {} are needed", workspace_doubles, count * rr);
  const int chunk = static_cast<int>(split.chunk);
  CUBLAS_CHECK(cublasDgemmStridedBatched(handle, CUBLAS_OP_T, CUBLAS_OP_N, n, n, chunk, &one, rows, lda,
                                         static_cast<long long>(split.chunk), rows, lda,
                                         static_cast<long long>(split.chunk), &zero, workspace, n,
                                         static_cast<long long>(rr), static_cast<int>(split.full)));
  if (split.remainder > 0) {
    const double* tail = rows + split.full * split.chunk;
    const int rest = static_cast<int>(split.remainder);
    CUBLAS_CHECK(cublasDgemm(handle, CUBLAS_OP_T, CUBLAS_OP_N, n, n, rest, &one, tail, lda, tail, lda, &zero,
                             workspace + split.full * rr, n));
  }
  sum_partials_kernel<<<grid_for(rr), kThreads, 0, stream>>>(workspace, r, count, scale, out);
  CUDA_CHECK_LAUNCH();
}

}  // namespace convlab::cka_cuda
