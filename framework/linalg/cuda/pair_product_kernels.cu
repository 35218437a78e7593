#include "framework/linalg/cuda/pair_product_kernels.h"

#include <algorithm>

#include "framework/backend/cuda/cuda_check.h"
#include "framework/cka/cuda/launch.h"

namespace convlab::linalg_cuda {
namespace {

using cka_cuda::grid_for;
using cka_cuda::kThreads;

__global__ void gather_kernel(const double* in, int64_t rows, int64_t cols, const int32_t* perm, bool both_axes,
                              double* out) {
  CKA_FOR_EACH(index, rows * cols) {
    const int64_t i = index / cols, j = index - i * cols;
    out[index] = in[static_cast<int64_t>(perm[i]) * cols + (both_axes ? perm[j] : j)];
  }
}

constexpr int kRowsPerBlock = kThreads / 32;

__global__ void __launch_bounds__(kThreads) row_dots_kernel(const double* a, const double* b, int64_t n, double* out) {
  const int64_t row = blockIdx.x * int64_t(kRowsPerBlock) + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (row >= n) return;  // the whole warp leaves together: rows are per warp
  const double* x = a + row * n;
  const double* y = b + row * n;
  double sum = 0.0;
  for (int64_t j = lane; j < n; j += 32) sum += x[j] * y[j];
  for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_down_sync(0xffffffffu, sum, offset);
  if (lane == 0) out[row] = sum;
}

}  // namespace

void gather(const double* in, int64_t rows, int64_t cols, const int32_t* perm, bool both_axes, double* out,
            cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  gather_kernel<<<grid_for(rows * cols), kThreads, 0, stream>>>(in, rows, cols, perm, both_axes, out);
  CUDA_CHECK_LAUNCH();
}

void row_dots(const double* a, const double* b, int64_t n, double* out, cudaStream_t stream) {
  if (n == 0) return;
  const unsigned blocks = static_cast<unsigned>((n + kRowsPerBlock - 1) / kRowsPerBlock);
  row_dots_kernel<<<blocks, kThreads, 0, stream>>>(a, b, n, out);
  CUDA_CHECK_LAUNCH();
}

}  // namespace convlab::linalg_cuda
