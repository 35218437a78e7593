// Centring a Gram matrix on the device as the HSIC estimator needs: H K H (biased) or
// U-centred (debiased), in O(n^2) and without forming H. One pass for the column sums, then
// one fused pass that rewrites every entry from its row, column and grand means.
// CPU twin: centre_for, centre_gram and u_centre_gram (framework/cka/centring.cpp); both take
// the per-element math from kernels/gram.h.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "framework/cka/options.h"

namespace convlab::cka_cuda {

// Device scratch for centre_gram_for, in doubles.
inline int64_t centring_workspace_doubles(int64_t n) { return 3 * n + 4; }

// Queues on `stream`: gram (n, n) f64, row-major and exactly symmetric (so that its row sums
// are its column sums), is centred in place for `estimator`. When what is left is rounding of
// the means (kernels::centred_to_rounding: a Gram that does not vary over the examples), it is
// set to exactly zero, so that its self-HSIC is 0 and CKA with it is NaN; *flat (device, may
// be null) then receives 1, else 0 (the CPU's centre_for returns it). Needs n >= 2 (biased)
// or n >= 4 (debiased).
void centre_gram_for(cka::Estimator estimator, double* gram, int64_t n, double* workspace, cudaStream_t stream,
                     int32_t* flat = nullptr);

}  // namespace convlab::cka_cuda
