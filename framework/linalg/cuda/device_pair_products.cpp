#include "framework/linalg/cuda/device_pair_products.h"

#include <cublas_v2.h>

#include <algorithm>

#include "framework/backend/cuda/cuda_check.h"
#include "framework/backend/cuda/cuda_context.h"
#include "framework/cka/cuda/device_gram.h"
#include "framework/core/error.h"
#include "framework/linalg/cuda/copy_to_host.h"
#include "framework/linalg/cuda/gram_f64_kernels.h"
#include "framework/linalg/cuda/pair_product_kernels.h"

namespace convlab::linalg {

DevicePairProducts::DevicePairProducts(CudaContext& context) : context_(context) {}

void DevicePairProducts::set(int64_t slot, std::vector<double> m, int64_t rows, int64_t cols) {
  CONVLAB_CHECK(static_cast<int64_t>(m.size()) == rows * cols, "a ({}, {}) matrix needs {} values, got {}", rows, cols,
                rows * cols, m.size());
  Matrix& to = matrices_[slot];
  to.rows = rows;
  to.cols = cols;
  if (!to.values.defined() || to.values.numel() != rows * cols)
    to.values = Tensor::empty({std::max<int64_t>(rows * cols, 1)}, DType::f64, Device(&context_));
  CUDA_CHECK(cudaMemcpyAsync(to.values.data<double>(), m.data(), m.size() * sizeof(double), cudaMemcpyHostToDevice,
                             context_.stream()));
  CUDA_CHECK(cudaStreamSynchronize(context_.stream()));  // m goes when this returns
}

void DevicePairProducts::set_permuted(int64_t slot, const std::vector<int32_t>& perm, bool both_axes) {
  const Matrix& from = at(slot, false);
  CONVLAB_CHECK(static_cast<int64_t>(perm.size()) == from.rows && (!both_axes || from.rows == from.cols),
                "a permutation of {} examples for a ({}, {}) matrix", perm.size(), from.rows, from.cols);
  const Device device(&context_);
  const cudaStream_t stream = context_.stream();
  int32_t* p = cka::reserve<int32_t>(perm_, from.rows, device);
  CUDA_CHECK(cudaMemcpyAsync(p, perm.data(), perm.size() * sizeof(int32_t), cudaMemcpyHostToDevice, stream));
  Matrix& to = permuted_[slot];
  to.rows = from.rows;
  to.cols = from.cols;
  if (!to.values.defined() || to.values.numel() != from.values.numel())
    to.values = Tensor::empty({from.values.numel()}, DType::f64, device);
  linalg_cuda::gather(from.values.data<double>(), from.rows, from.cols, p, both_axes, to.values.data<double>(), stream);
  CUDA_CHECK(cudaStreamSynchronize(stream));  // perm goes when this returns
}

std::vector<double> DevicePairProducts::cross_gram(int64_t a, int64_t b, bool permuted_b, bool left) {
  const Matrix &x = at(a, false), &y = at(b, permuted_b);
  CONVLAB_CHECK(x.rows == y.rows, "products of the same examples: {} against {} rows", x.rows, y.rows);
  const int64_t n = x.rows, dx = x.cols, dy = y.cols, s = left ? dx : dy;
  const Device device(&context_);
  const cudaStream_t stream = context_.stream();
  double* c = cka::reserve<double>(product_, dx * dy, device);
  double* g = cka::reserve<double>(gram_, s * s, device);
  cublasHandle_t blas = context_.cublas();
  CUBLAS_CHECK(cublasSetPointerMode(blas, CUBLAS_POINTER_MODE_HOST));
  CUBLAS_CHECK(cublasSetMathMode(blas, CUBLAS_DEFAULT_MATH));
  const double one = 1.0, zero = 0.0;
  // Row-major X (n, dx) and Y (n, dy) are cuBLAS's column-major X^T (dx, n) and Y^T (dy, n).
  // R = Y^T X (dy, dx) column-major is C = X^T Y (dx, dy) row-major.
  CUBLAS_CHECK(cublasDgemm(blas, CUBLAS_OP_N, CUBLAS_OP_T, static_cast<int>(dy), static_cast<int>(dx),
                           static_cast<int>(n), &one, y.values.data<double>(), static_cast<int>(dy),
                           x.values.data<double>(), static_cast<int>(dx), &zero, c, static_cast<int>(dy)));
  if (left)  // C C^T = R^T R (dx, dx)
    CUBLAS_CHECK(cublasDsyrk(blas, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_T, static_cast<int>(dx), static_cast<int>(dy),
                             &one, c, static_cast<int>(dy), &zero, g, static_cast<int>(dx)));
  else  // C^T C = R R^T (dy, dy)
    CUBLAS_CHECK(cublasDsyrk(blas, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_N, static_cast<int>(dy), static_cast<int>(dx),
                             &one, c, static_cast<int>(dy), &zero, g, static_cast<int>(dy)));
  linalg_cuda::mirror_lower(g, s, stream);  // both triangles: the host reads the row-major upper one
  return linalg_cuda::copy_to_host(g, s * s, stream);
}

std::vector<double> DevicePairProducts::sandwich_diagonal(int64_t a, int64_t b, bool permuted_b) {
  const Matrix &m = at(a, false), &l = at(b, permuted_b);
  CONVLAB_CHECK(m.rows == m.cols && l.rows == l.cols && m.rows == l.rows,
                "the sandwich of a ({0}, {1}) and a ({2}, {3}) matrix: both square, of one size", m.rows, m.cols,
                l.rows, l.cols);
  const int64_t n = m.rows;
  const Device device(&context_);
  const cudaStream_t stream = context_.stream();
  double* p = cka::reserve<double>(product_, n * n, device);
  double* squares = cka::reserve<double>(squares_, n, device);
  cublasHandle_t blas = context_.cublas();
  CUBLAS_CHECK(cublasSetPointerMode(blas, CUBLAS_POINTER_MODE_HOST));
  CUBLAS_CHECK(cublasSetMathMode(blas, CUBLAS_DEFAULT_MATH));
  const double one = 1.0, zero = 0.0;
  // Column-major P = L M_sym (M read from one triangle, as the CPU's dsymm reads one) is, for
  // symmetric L and M, row-major M L.
  CUBLAS_CHECK(cublasDsymm(blas, CUBLAS_SIDE_RIGHT, CUBLAS_FILL_MODE_UPPER, static_cast<int>(n), static_cast<int>(n),
                           &one, m.values.data<double>(), static_cast<int>(n), l.values.data<double>(),
                           static_cast<int>(n), &zero, p, static_cast<int>(n)));
  linalg_cuda::row_dots(p, m.values.data<double>(), n, squares, stream);  // (M L M)_ii = sum_j (M L)_ij M_ij
  return linalg_cuda::copy_to_host(squares, n, stream);
}

void DevicePairProducts::clear() {
  matrices_.clear();
  permuted_.clear();
}

}  // namespace convlab::linalg
