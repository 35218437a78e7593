#include "framework/rsa/cuda/rdm_ranks.h"

#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_scan.cuh>

#include <algorithm>
#include <climits>

#include "framework/backend/cuda/cuda_check.h"
#include "framework/cka/cuda/launch.h"
#include "kernels/rsa.h"

namespace convlab::rsa_cuda {
namespace {

using cka_cuda::grid_for;
using cka_cuda::kThreads;

constexpr size_t kAlign = 256;
size_t aligned(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

// The larger of two run starts: the inclusive max-scan of the run-start flags.
struct MaxOp {
  __host__ __device__ int32_t operator()(int32_t a, int32_t b) const { return a > b ? a : b; }
};

size_t sort_scratch_bytes(int64_t m) {
  size_t bytes = 0;
  CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, bytes, static_cast<const double*>(nullptr),
                                             static_cast<double*>(nullptr), static_cast<const int32_t*>(nullptr),
                                             static_cast<int32_t*>(nullptr), static_cast<int>(m)));
  return bytes;
}

size_t scan_scratch_bytes(int64_t m) {
  size_t bytes = 0;
  CUDA_CHECK(cub::DeviceScan::InclusiveScan(nullptr, bytes, static_cast<const int32_t*>(nullptr),
                                            static_cast<int32_t*>(nullptr), MaxOp{}, static_cast<int>(m)));
  return bytes;
}

// Byte offsets of the pieces of the workspace. The sort's scratch is dead once the sort is
// done; the run starts and the scan's scratch then live in it.
struct Layout {
  size_t keys_out = 0, index_in = 0, index_out = 0, scratch = 0, sort_bytes = 0, scan_bytes = 0, first = 0,
         scan = 0, total = 0;
  explicit Layout(int64_t m) {
    const size_t doubles = aligned(static_cast<size_t>(m) * sizeof(double));
    const size_t ints = aligned(static_cast<size_t>(m) * sizeof(int32_t));
    keys_out = 0;
    index_in = doubles;
    index_out = index_in + ints;
    scratch = index_out + ints;
    sort_bytes = sort_scratch_bytes(m);
    scan_bytes = scan_scratch_bytes(m);
    first = scratch;
    scan = first + ints;
    total = scratch + std::max(aligned(sort_bytes), ints + aligned(scan_bytes));
  }
};

__global__ void rdm_upper_kernel(const double* gram, int64_t k, double* distances, int32_t* constant) {
  CKA_FOR_EACH(index, k * k) {
    int64_t i, j;
    cka_cuda::row_and_column(index, k, i, j);
    if (i == j && !(gram[index] > 0.0)) atomicAdd(constant, 1);
    if (i < j)
      distances[kernels::upper_pair_index(i, j, k)] =
          kernels::correlation_distance(gram[index], gram[i * k + i], gram[j * k + j]);
  }
}

__global__ void iota_kernel(int32_t* index, int64_t m) {
  CKA_FOR_EACH(i, m) index[i] = static_cast<int32_t>(i);
}

// A run of equal values starts at s when s is the first position or its value differs from
// the one before (NaN differs from everything: a run of its own, as on the CPU's scan).
__device__ __forceinline__ bool run_starts_at(const double* sorted, int64_t s) {
  return s == 0 || sorted[s] != sorted[s - 1];
}

// heads (m): s at a run's start, else 0; the running maximum is then each position's run start.
__global__ void run_heads_kernel(const double* sorted, int64_t m, int32_t* heads) {
  CKA_FOR_EACH(s, m) heads[s] = run_starts_at(sorted, s) ? static_cast<int32_t>(s) : 0;
}

// The last element of each run writes the run's end at the run's start: ends[first[s]] = s + 1.
// Every run has exactly one last element, so each start's slot is written once; slots of
// other positions are not written and not read.
__global__ void run_ends_kernel(const double* sorted, const int32_t* first, int64_t m, int32_t* ends) {
  CKA_FOR_EACH(s, m) {
    if (s + 1 == m || run_starts_at(sorted, s + 1)) ends[first[s]] = static_cast<int32_t>(s + 1);
  }
}

__global__ void ranks_kernel(const int32_t* first, const int32_t* ends, const int32_t* order, int64_t m,
                             double* centred) {
  CKA_FOR_EACH(s, m) {
    const int32_t start = first[s];
    centred[order[s]] = kernels::centred_rank(kernels::average_rank(start, ends[start]), m);
  }
}

void check_count(int64_t m) {
  CONVLAB_CHECK(m >= 0 && m <= INT_MAX, "the CUDA ranks take at most {} values, got {}", INT_MAX, m);
}

}  // namespace

void rdm_upper(const double* gram, int64_t k, double* distances, int32_t* constant, cudaStream_t stream) {
  CONVLAB_CHECK(k >= 2 && k <= cka_cuda::kMaxGramSide, "an RDM of {} examples: the CUDA RSA takes 2 to {}", k,
                cka_cuda::kMaxGramSide);
  rdm_upper_kernel<<<grid_for(k * k), kThreads, 0, stream>>>(gram, k, distances, constant);
  CUDA_CHECK_LAUNCH();
}

size_t rank_workspace_bytes(int64_t m) {
  check_count(m);
  return Layout(m).total;
}

void centred_ranks(const double* values, int64_t m, void* workspace, size_t workspace_bytes, double* centred,
                   cudaStream_t stream) {
  check_count(m);
  if (m == 0) return;
  const Layout layout(m);
  CONVLAB_CHECK(workspace_bytes >= layout.total, "the rank workspace holds {} bytes, {} are needed", workspace_bytes,
                layout.total);
  char* base = static_cast<char*>(workspace);
  double* keys_out = reinterpret_cast<double*>(base + layout.keys_out);
  int32_t* index_in = reinterpret_cast<int32_t*>(base + layout.index_in);
  int32_t* index_out = reinterpret_cast<int32_t*>(base + layout.index_out);
  int32_t* first = reinterpret_cast<int32_t*>(base + layout.first);  // in the sort's scratch, after the sort
  iota_kernel<<<grid_for(m), kThreads, 0, stream>>>(index_in, m);
  CUDA_CHECK_LAUNCH();
  size_t sort_bytes = layout.sort_bytes;
  CUDA_CHECK(cub::DeviceRadixSort::SortPairs(base + layout.scratch, sort_bytes, values, keys_out, index_in, index_out,
                                             static_cast<int>(m), 0, static_cast<int>(sizeof(double) * 8), stream));
  // index_in is free after the sort: it holds the run heads, then (after the scan) the ends.
  int32_t* heads = index_in;
  int32_t* ends = index_in;
  run_heads_kernel<<<grid_for(m), kThreads, 0, stream>>>(keys_out, m, heads);
  CUDA_CHECK_LAUNCH();
  size_t scan_bytes = layout.scan_bytes;
  CUDA_CHECK(cub::DeviceScan::InclusiveScan(base + layout.scan, scan_bytes, static_cast<const int32_t*>(heads), first,
                                            MaxOp{}, static_cast<int>(m), stream));
  run_ends_kernel<<<grid_for(m), kThreads, 0, stream>>>(keys_out, first, m, ends);
  CUDA_CHECK_LAUNCH();
  ranks_kernel<<<grid_for(m), kThreads, 0, stream>>>(first, ends, index_out, m, centred);
  CUDA_CHECK_LAUNCH();
}

}  // namespace convlab::rsa_cuda
