#include "framework/cka/cuda/gram_block.h"

#include "framework/backend/cuda/cuda_check.h"
#include "framework/cka/cuda/launch.h"

namespace convlab::cka_cuda {
namespace {

__global__ void add_gram_block_kernel(const float* partial, int64_t n, bool first_block, double* gram) {
  CKA_FOR_EACH(index, n * n) {
    int64_t i, j;
    row_and_column(index, n, i, j);
    const int64_t lo = i < j ? i : j, hi = i < j ? j : i;
    const double product = static_cast<double>(partial[lo + hi * n]);  // column-major, upper triangle
    gram[index] = first_block ? product : gram[index] + product;
  }
}

}  // namespace

void add_gram_block(const float* partial, int64_t n, bool first_block, double* gram, cudaStream_t stream) {
  if (n == 0) return;
  CONVLAB_CHECK(n <= kMaxGramSide, "a Gram of {} examples is larger than the CUDA CKA takes ({})", n, kMaxGramSide);
  add_gram_block_kernel<<<grid_for(n * n), kThreads, 0, stream>>>(partial, n, first_block, gram);
  CUDA_CHECK_LAUNCH();
}

}  // namespace convlab::cka_cuda
