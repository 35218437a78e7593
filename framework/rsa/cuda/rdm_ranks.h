// An RDM's upper triangle and its centred ranks on the device. CPU twin: rsa::rdm_upper and
// rsa::centred_ranks (../rdm.h); both take the per-element math from kernels/rsa.h. Ties get
// their average rank on both: here from the bounds of each value's run in the sorted array
// (two binary searches), there from a scan of the runs; the ranks are exact halves either way.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace convlab::rsa_cuda {

// Queues on `stream`: distances (k (k - 1) / 2) f64 = the RDM's upper triangle from the
// row-centred Gram (k, k); *constant += the number of examples with constant features.
void rdm_upper(const double* gram, int64_t k, double* distances, int32_t* constant, cudaStream_t stream);

// Device scratch centred_ranks needs for m values: the sort's keys and indices twice and its
// own workspace. About 24 m bytes.
size_t rank_workspace_bytes(int64_t m);

// Queues on `stream`: centred (m) f64 = average ranks of values (m) minus (m + 1) / 2.
void centred_ranks(const double* values, int64_t m, void* workspace, size_t workspace_bytes, double* centred,
                   cudaStream_t stream);

}  // namespace convlab::rsa_cuda
