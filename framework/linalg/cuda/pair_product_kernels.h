// The kernels of the per-pair products on the device (DevicePairProducts): a matrix's rows
// (and columns) reordered for the permutation test, and the row sums of an elementwise
// product that turn M L into diag(M L M). CPU twins: HostPairProducts::set_permuted and
// linalg::sandwich_diagonal's loop. Both queue on `stream`.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace convlab::linalg_cuda {

// Queues: out (rows, cols) f64 row-major, row i = row perm[i] of in; with `both_axes` (a
// square matrix) entry (i, j) = in (perm i, perm j). perm: (rows) i32 on the device.
void gather(const double* in, int64_t rows, int64_t cols, const int32_t* perm, bool both_axes, double* out,
            cudaStream_t stream);

// Queues: out[i] = sum_j a_ij b_ij over row-major (n, n) a and b, one warp per row, in a fixed
// order (so a run repeats bit for bit).
void row_dots(const double* a, const double* b, int64_t n, double* out, cudaStream_t stream);

}  // namespace convlab::linalg_cuda
