#include "framework/linalg/pair_products.h"

#include <cblas.h>

#include <utility>

#include "framework/core/error.h"

namespace convlab::linalg {

std::vector<double> cross_gram(const double* a, const double* b, int64_t n, int64_t dx, int64_t dy, bool left) {
  std::vector<double> c(static_cast<size_t>(dx * dy));  // C = A^T B (dx, dy)
  cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(dx), static_cast<int>(dy), static_cast<int>(n),
              1.0, a, static_cast<int>(dx), b, static_cast<int>(dy), 0.0, c.data(), static_cast<int>(dy));
  const int64_t s = left ? dx : dy;
  std::vector<double> g(static_cast<size_t>(s * s));
  if (left)
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, static_cast<int>(dx), static_cast<int>(dy), 1.0, c.data(),
                static_cast<int>(dy), 0.0, g.data(), static_cast<int>(dx));
  else
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, static_cast<int>(dy), static_cast<int>(dx), 1.0, c.data(),
                static_cast<int>(dy), 0.0, g.data(), static_cast<int>(dy));
  return g;
}

std::vector<double> sandwich_diagonal(const double* m, const double* l, int64_t n) {
  std::vector<double> ml(static_cast<size_t>(n * n));  // M L
  cblas_dsymm(CblasRowMajor, CblasLeft, CblasUpper, static_cast<int>(n), static_cast<int>(n), 1.0, m,
              static_cast<int>(n), l, static_cast<int>(n), 0.0, ml.data(), static_cast<int>(n));
  std::vector<double> out(static_cast<size_t>(n), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    double square = 0.0;
    for (int64_t j = 0; j < n; ++j) square += ml[static_cast<size_t>(i * n + j)] * m[static_cast<size_t>(i * n + j)];
    out[static_cast<size_t>(i)] = square;
  }
  return out;
}

void HostPairProducts::set(int64_t slot, std::vector<double> m, int64_t rows, int64_t cols) {
  CONVLAB_CHECK(static_cast<int64_t>(m.size()) == rows * cols, "a ({}, {}) matrix needs {} values, got {}", rows, cols,
                rows * cols, m.size());
  matrices_[slot] = {std::move(m), rows, cols};
}

void HostPairProducts::set_permuted(int64_t slot, const std::vector<int32_t>& perm, bool both_axes) {
  const Matrix& from = at(slot, false);
  const int64_t rows = from.rows, cols = from.cols;
  CONVLAB_CHECK(static_cast<int64_t>(perm.size()) == rows && (!both_axes || rows == cols),
                "a permutation of {} examples for a ({}, {}) matrix", perm.size(), rows, cols);
  Matrix& to = permuted_[slot];
  to.rows = rows;
  to.cols = cols;
  to.values.resize(from.values.size());
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t source = perm[static_cast<size_t>(i)];
    for (int64_t j = 0; j < cols; ++j)
      to.values[static_cast<size_t>(i * cols + j)] =
          from.values[static_cast<size_t>(source * cols + (both_axes ? perm[static_cast<size_t>(j)] : j))];
  }
}

void PairProducts::missing(int64_t slot, bool permuted) {
  CONVLAB_FAIL("no {}matrix set in slot {} for this batch", permuted ? "permuted " : "", slot);
}

std::vector<double> HostPairProducts::cross_gram(int64_t a, int64_t b, bool permuted_b, bool left) {
  const Matrix &x = at(a, false), &y = at(b, permuted_b);
  CONVLAB_CHECK(x.rows == y.rows, "products of the same examples: {} against {} rows", x.rows, y.rows);
  return linalg::cross_gram(x.values.data(), y.values.data(), x.rows, x.cols, y.cols, left);
}

std::vector<double> HostPairProducts::sandwich_diagonal(int64_t a, int64_t b, bool permuted_b) {
  const Matrix &m = at(a, false), &l = at(b, permuted_b);
  CONVLAB_CHECK(m.rows == m.cols && l.rows == l.cols && m.rows == l.rows,
                "the sandwich of a ({0}, {1}) and a ({2}, {3}) matrix: both square, of one size", m.rows, m.cols,
                l.rows, l.cols);
  return linalg::sandwich_diagonal(m.values.data(), l.values.data(), m.rows);
}

void HostPairProducts::clear() {
  matrices_.clear();
  permuted_.clear();
}

}  // namespace convlab::linalg
