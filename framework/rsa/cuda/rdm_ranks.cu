#include "framework/rsa/cuda/rdm_ranks.h"

#include <cub/device/device_radix_sort.cuh>

#include "framework/backend/cuda/cuda_check.h"
#include "framework/cka/cuda/launch.h"
#include "kernels/rsa.h"

namespace convlab::rsa_cuda {
namespace {

using cka_cuda::grid_for;
using cka_cuda::kThreads;

constexpr size_t kAlign = 256;
size_t aligned(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

// Byte offsets of the pieces of the workspace.
struct Layout {
  size_t keys_out = 0, index_in = 0, index_out = 0, sort = 0, sort_bytes = 0, total = 0;
  explicit Layout(int64_t m) {
    const size_t doubles = aligned(static_cast<size_t>(m) * sizeof(double));
    const size_t ints = aligned(static_cast<size_t>(m) * sizeof(int32_t));
    keys_out = 0;
    index_in = doubles;
    index_out = index_in + ints;
    sort = index_out + ints;
    CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, sort_bytes, static_cast<const double*>(nullptr),
                                               static_cast<double*>(nullptr), static_cast<const int32_t*>(nullptr),
                                               static_cast<int32_t*>(nullptr), static_cast<int>(m)));
    total = sort + aligned(sort_bytes);
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

// The first position in sorted (m) whose value is not below v (below: < v; else <= v).
__device__ int64_t bound(const double* sorted, int64_t m, double v, bool upper) {
  int64_t lo = 0, hi = m;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    const bool left = upper ? sorted[mid] <= v : sorted[mid] < v;
    if (left)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

__global__ void ranks_kernel(const double* sorted, const int32_t* order, int64_t m, double* centred) {
  CKA_FOR_EACH(s, m) {
    const double v = sorted[s];
    const int64_t first = bound(sorted, m, v, false), end = bound(sorted, m, v, true);
    centred[order[s]] = kernels::centred_rank(kernels::average_rank(first, end), m);
  }
}

}  // namespace

void rdm_upper(const double* gram, int64_t k, double* distances, int32_t* constant, cudaStream_t stream) {
  CONVLAB_CHECK(k >= 2 && k <= cka_cuda::kMaxGramSide, "an RDM of {} examples: the CUDA RSA takes 2 to {}", k,
                cka_cuda::kMaxGramSide);
  rdm_upper_kernel<<<grid_for(k * k), kThreads, 0, stream>>>(gram, k, distances, constant);
  CUDA_CHECK_LAUNCH();
}

size_t rank_workspace_bytes(int64_t m) { return Layout(m).total; }

void centred_ranks(const double* values, int64_t m, void* workspace, size_t workspace_bytes, double* centred,
                   cudaStream_t stream) {
  const Layout layout(m);
  CONVLAB_CHECK(workspace_bytes >= layout.total, "the rank workspace holds {} bytes, {} are needed", workspace_bytes,
                layout.total);
  char* base = static_cast<char*>(workspace);
  double* keys_out = reinterpret_cast<double*>(base + layout.keys_out);
  int32_t* index_in = reinterpret_cast<int32_t*>(base + layout.index_in);
  int32_t* index_out = reinterpret_cast<int32_t*>(base + layout.index_out);
  iota_kernel<<<grid_for(m), kThreads, 0, stream>>>(index_in, m);
  CUDA_CHECK_LAUNCH();
  size_t sort_bytes = layout.sort_bytes;
  CUDA_CHECK(cub::DeviceRadixSort::SortPairs(base + layout.sort, sort_bytes, values, keys_out, index_in, index_out,
                                             static_cast<int>(m), 0, static_cast<int>(sizeof(double) * 8), stream));
  ranks_kernel<<<grid_for(m), kThreads, 0, stream>>>(keys_out, index_out, m, centred);
  CUDA_CHECK_LAUNCH();
}

}  // namespace convlab::rsa_cuda
