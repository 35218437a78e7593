// The RBF Gram from the linear one on the device: squared distances of the n(n-1)/2 pairs
// i < j, their median from a device radix sort (no copy to the host, so nothing waits), then
// K_ij = exp(-D_ij / (2 s^2)) with s^2 = frac^2 * median.
// CPU twin: rbf_from_linear_gram and median_squared_distance (framework/cka/gram.cpp); both
// take the per-element math from kernels/gram.h.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace convlab::cka_cuda {

// Device scratch that rbf_from_linear_gram needs for n examples: the distances twice (sort
// input and output), the diagonal, the width and the sort's own workspace. About 8 n^2 bytes.
size_t rbf_workspace_bytes(int64_t n);

// Queues on `stream`: gram (n, n) f64, symmetric, the linear Gram, becomes the RBF Gram in
// place. Needs n >= 2 and frac > 0. spread (3 device doubles, may be null) receives the
// smallest nonzero and the largest squared distance and s^2, for the caller to judge the
// width by (cka::rbf_fit, rbf_width.h) as the CPU does.
void rbf_from_linear_gram(double* gram, int64_t n, double frac, void* workspace, size_t workspace_bytes,
                          double* spread, cudaStream_t stream);

}  // namespace convlab::cka_cuda
