#include "framework/cka/cuda/gram_centring.h"

#include "framework/backend/cuda/cuda_check.h"
#include "framework/cka/cuda/block_sum.cuh"
#include "framework/cka/cuda/launch.h"
#include "kernels/gram.h"

namespace convlab::cka_cuda {
namespace {

// Slots of the (4) statistics at the end of the workspace.
enum Stat { kTotal = 0, kUncentredSq = 1, kCentredSq = 2, kRounding = 3 };

// Column sums: a block is 32 columns (a warp reads 256 contiguous bytes of a row) by
// kRowGroups threads that split the rows.
constexpr int kColumns = 32;
constexpr int kRowGroups = 8;

// col_sum[j] = sum_i K_ij (the diagonal counted as zero for U-centring) and col_sq[j] =
// sum_i K_ij^2 (all entries: the uncentred norm that the rounding test compares with).
__global__ void column_sums_kernel(const double* gram, int64_t n, bool skip_diagonal, double* col_sum,
                                   double* col_sq) {
  __shared__ double partial_sum[kRowGroups][kColumns];
  __shared__ double partial_sq[kRowGroups][kColumns];
  const int tx = static_cast<int>(threadIdx.x), ty = static_cast<int>(threadIdx.y);
  const int64_t j = static_cast<int64_t>(blockIdx.x) * kColumns + tx;
  double sum = 0.0, sq = 0.0;
  if (j < n)
    for (int64_t i = ty; i < n; i += kRowGroups) {
      const double k = gram[i * n + j];
      sum += kernels::off_diagonal(k, skip_diagonal && i == j);
      sq += k * k;
    }
  partial_sum[ty][tx] = sum;
  partial_sq[ty][tx] = sq;
  __syncthreads();
  if (ty != 0 || j >= n) return;
  double s = 0.0, q = 0.0;
  for (int g = 0; g < kRowGroups; ++g) {  // the same order on every run
    s += partial_sum[g][tx];
    q += partial_sq[g][tx];
  }
  col_sum[j] = s;
  col_sq[j] = q;
}

// One block: stats[kTotal] = sum of K (as summed above), stats[kUncentredSq] = ||K||_F^2.
__global__ void totals_kernel(const double* col_sum, const double* col_sq, int64_t n, double* stats) {
  __shared__ double scratch[32];
  double s = 0.0, q = 0.0;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
    s += col_sum[j];
    q += col_sq[j];
  }
  s = block_sum(s, scratch);
  q = block_sum(q, scratch);
  if (threadIdx.x == 0) {
    stats[kTotal] = s;
    stats[kUncentredSq] = q;
  }
}

// The fused centring: a block per row (grid-stride over rows) rewrites the row's entries from
// the means and sums ||row||^2 of the result into row_sq. K is symmetric, so the sum of row i
// is col_sum[i].
__global__ void centre_kernel(double* gram, int64_t n, bool debiased, const double* col_sum, const double* stats,
                              double* row_sq) {
  __shared__ double scratch[32];
  const double nd = static_cast<double>(n);
  const double total = stats[kTotal];
  const double grand_mean = total / (nd * nd);
  for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
    double* row = gram + i * n;
    const double row_sum = col_sum[i];
    const double row_mean = row_sum / nd;
    double sq = 0.0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
      const double centred =
          debiased ? kernels::u_centre_entry(row[j], row_sum, col_sum[j], total, n, i == j)
                   : kernels::centre_entry(row[j], row_mean, col_sum[j] / nd, grand_mean);
      row[j] = centred;
      sq += centred * centred;
    }
    sq = block_sum(sq, scratch);
    if (threadIdx.x == 0) row_sq[i] = sq;
  }
}

// One block: ||centred K||_F^2, and whether it is only the rounding of the means.
__global__ void rounding_test_kernel(const double* row_sq, int64_t n, double* stats, int32_t* flat) {
  __shared__ double scratch[32];
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += row_sq[i];
  s = block_sum(s, scratch);
  if (threadIdx.x == 0) {
    stats[kCentredSq] = s;
    const bool rounding = kernels::centred_to_rounding(s, stats[kUncentredSq]);
    stats[kRounding] = rounding ? 1.0 : 0.0;
    if (flat != nullptr) *flat = rounding ? 1 : 0;
  }
}

__global__ void zero_if_rounding_kernel(double* gram, int64_t n, const double* stats) {
  if (stats[kRounding] == 0.0) return;
  CKA_FOR_EACH(index, n * n) gram[index] = 0.0;
}

}  // namespace

void centre_gram_for(cka::Estimator estimator, double* gram, int64_t n, double* workspace, cudaStream_t stream,
                     int32_t* flat) {
  const int64_t smallest = estimator == cka::Estimator::debiased ? 4 : 2;
  CONVLAB_CHECK(n >= smallest, "the {} HSIC estimator needs at least {} examples, got {}",
                cka::estimator_name(estimator), smallest, n);
  CONVLAB_CHECK(n <= kMaxGramSide, "a Gram of {} examples is larger than the CUDA CKA takes ({})", n, kMaxGramSide);
  const bool debiased = estimator == cka::Estimator::debiased;
  double* col_sum = workspace;       // (n)
  double* col_sq = workspace + n;    // (n)
  double* row_sq = workspace + 2 * n;  // (n)
  double* stats = workspace + 3 * n;   // (4), see Stat

  const dim3 sums_block(kColumns, kRowGroups);
  const dim3 sums_grid(static_cast<unsigned>((n + kColumns - 1) / kColumns));
  column_sums_kernel<<<sums_grid, sums_block, 0, stream>>>(gram, n, debiased, col_sum, col_sq);
  CUDA_CHECK_LAUNCH();
  totals_kernel<<<1, kThreads, 0, stream>>>(col_sum, col_sq, n, stats);
  CUDA_CHECK_LAUNCH();
  const unsigned rows_grid = static_cast<unsigned>(std::min<int64_t>(n, 65535));
  centre_kernel<<<rows_grid, kThreads, 0, stream>>>(gram, n, debiased, col_sum, stats, row_sq);
  CUDA_CHECK_LAUNCH();
  rounding_test_kernel<<<1, kThreads, 0, stream>>>(row_sq, n, stats, flat);
  CUDA_CHECK_LAUNCH();
  zero_if_rounding_kernel<<<grid_for(n * n), kThreads, 0, stream>>>(gram, n, stats);
  CUDA_CHECK_LAUNCH();
}

}  // namespace convlab::cka_cuda
