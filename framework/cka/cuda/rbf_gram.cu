#include "framework/cka/cuda/rbf_gram.h"

#include <cub/device/device_radix_sort.cuh>

#include <cmath>

#include "framework/backend/cuda/cuda_check.h"
#include "framework/cka/cuda/launch.h"
#include "kernels/gram.h"

namespace convlab::cka_cuda {
namespace {

// Regions of the workspace start on 256-byte boundaries, as the sort's scratch expects.
constexpr size_t kAlign = 256;
size_t aligned(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

int64_t pair_count(int64_t n) { return n * (n - 1) / 2; }

size_t radix_sort_scratch(int64_t pairs) {
  size_t bytes = 0;
  CUDA_CHECK(cub::DeviceRadixSort::SortKeys(nullptr, bytes, static_cast<const double*>(nullptr),
                                            static_cast<double*>(nullptr), static_cast<int>(pairs)));
  return bytes;
}

// Byte offsets of the pieces of the workspace.
struct Layout {
  size_t diagonal = 0, width = 0, distances = 0, sorted = 0, sort_scratch = 0, sort_scratch_bytes = 0, total = 0;
  explicit Layout(int64_t n) {
    const int64_t pairs = pair_count(n);
    width = aligned(static_cast<size_t>(n) * sizeof(double));
    distances = width + kAlign;
    sorted = distances + aligned(static_cast<size_t>(pairs) * sizeof(double));
    sort_scratch = sorted + aligned(static_cast<size_t>(pairs) * sizeof(double));
    sort_scratch_bytes = radix_sort_scratch(pairs);
    total = sort_scratch + aligned(sort_scratch_bytes);
  }
};

// The diagonal of K, and the squared distances of the pairs i < j in row order (the order
// of the CPU's list; the median does not depend on it).
__global__ void pair_distances_kernel(const double* gram, int64_t n, double* diagonal, double* distances) {
  CKA_FOR_EACH(index, n * n) {
    int64_t i, j;
    row_and_column(index, n, i, j);
    if (i == j) diagonal[i] = gram[index];
    if (i < j) {
      const int64_t pair = i * (2 * n - i - 1) / 2 + (j - i - 1);  // pairs of rows before i, then j's place
      distances[pair] = kernels::squared_distance(gram[i * n + i], gram[j * n + j], gram[index]);
    }
  }
}

// One thread: the median of the sorted distances and the width it gives, and the smallest
// nonzero distance (the first above zero, by bisection of the sorted list) and the largest.
__global__ void rbf_width_kernel(const double* sorted, int64_t pairs, double frac, double* width_sq, double* spread) {
  const int64_t mid = pairs / 2;
  const double upper = sorted[mid];
  const double lower = pairs % 2 == 1 ? upper : sorted[mid - 1];
  const double width = kernels::rbf_width_sq(frac, kernels::median_from_middle(lower, upper, pairs));
  *width_sq = width;
  if (spread == nullptr) return;
  int64_t low = 0, high = pairs;  // the first index whose distance is > 0 lies in [low, high]
  while (low < high) {
    const int64_t probe = low + (high - low) / 2;
    if (sorted[probe] > 0.0)
      high = probe;
    else
      low = probe + 1;
  }
  spread[0] = low < pairs ? sorted[low] : 0.0;
  spread[1] = sorted[pairs - 1];
  spread[2] = width;
}

__global__ void rbf_entries_kernel(double* gram, int64_t n, const double* diagonal, const double* width_sq) {
  const double width = *width_sq;
  CKA_FOR_EACH(index, n * n) {
    int64_t i, j;
    row_and_column(index, n, i, j);
    gram[index] = kernels::rbf_entry(kernels::squared_distance(diagonal[i], diagonal[j], gram[index]), width);
  }
}

}  // namespace

size_t rbf_workspace_bytes(int64_t n) {
  CONVLAB_CHECK(n >= 2, "the RBF width needs distances between at least 2 examples, got {}", n);
  CONVLAB_CHECK(n <= kMaxGramSide, "a Gram of {} examples is larger than the CUDA CKA takes ({})", n, kMaxGramSide);
  return Layout(n).total;
}

void rbf_from_linear_gram(double* gram, int64_t n, double frac, void* workspace, size_t workspace_bytes,
                          double* spread, cudaStream_t stream) {
  CONVLAB_CHECK(std::isfinite(frac) && frac > 0.0, "the RBF width fraction must be positive and finite, got {}",
                frac);
  CONVLAB_CHECK(n >= 2 && n <= kMaxGramSide, "the RBF Gram takes 2 to {} examples, got {}", kMaxGramSide, n);
  const Layout layout(n);
  CONVLAB_CHECK(workspace_bytes >= layout.total, "the RBF workspace holds {} bytes, {} are needed", workspace_bytes,
                layout.total);
  char* base = static_cast<char*>(workspace);
  double* diagonal = reinterpret_cast<double*>(base + layout.diagonal);   // (n)
  double* width_sq = reinterpret_cast<double*>(base + layout.width);      // (1)
  double* distances = reinterpret_cast<double*>(base + layout.distances); // (n(n-1)/2)
  double* sorted = reinterpret_cast<double*>(base + layout.sorted);       // (n(n-1)/2)
  const int64_t pairs = pair_count(n);

  pair_distances_kernel<<<grid_for(n * n), kThreads, 0, stream>>>(gram, n, diagonal, distances);
  CUDA_CHECK_LAUNCH();
  size_t scratch_bytes = layout.sort_scratch_bytes;
  CUDA_CHECK(cub::DeviceRadixSort::SortKeys(base + layout.sort_scratch, scratch_bytes, distances, sorted,
                                            static_cast<int>(pairs), 0, static_cast<int>(sizeof(double) * 8), stream));
  rbf_width_kernel<<<1, 1, 0, stream>>>(sorted, pairs, frac, width_sq, spread);
  CUDA_CHECK_LAUNCH();
  rbf_entries_kernel<<<grid_for(n * n), kThreads, 0, stream>>>(gram, n, diagonal, width_sq);
  CUDA_CHECK_LAUNCH();
}

}  // namespace convlab::cka_cuda
