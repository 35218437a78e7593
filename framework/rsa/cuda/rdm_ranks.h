// An RDM's upper triangle and its centred ranks on the device. CPU twin: rsa::rdm_upper and
// rsa::centred_ranks (../rdm.h); both take the per-element math from kernels/rsa.h. Ties get
// their average rank on both, from the bounds [first, end) of each run of equal values in the
// sorted order (kernels::average_rank: exact halves). Here the runs come from the sorted
// values in three passes: a flag per run start, an inclusive max-scan that gives every
// position its run's start, and the run's last element writing the run's end at the start's
// slot; the ranks pass reads both.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace convlab::rsa_cuda {

// Queues on `stream`: distances (k (k - 1) / 2) f64 = the RDM's upper triangle from the
// row-centred Gram (k, k); *constant += the number of examples with constant features.
void rdm_upper(const double* gram, int64_t k, double* distances, int32_t* constant, cudaStream_t stream);

// Device scratch centred_ranks needs for m < 2^31 values: the sorted values (8 m bytes), the
// sort's indices in and out (8 m) and the sort's own workspace (about 12 m), which the run
// starts (4 m) and the scan's workspace reuse after the sort. About 28 m bytes.
size_t rank_workspace_bytes(int64_t m);

// Queues on `stream`: centred (m) f64 = average ranks of values (m) minus (m + 1) / 2, bit for
// bit those of rsa::centred_ranks. Cost: a (double, int32) radix sort of m pairs, then about
// 56 m bytes of reads and writes for the runs and the ranks.
void centred_ranks(const double* values, int64_t m, void* workspace, size_t workspace_bytes, double* centred,
                   cudaStream_t stream);

}  // namespace convlab::rsa_cuda
