#include "tests/support/dense_matrix.h"

#include <cmath>
#include <random>

namespace convlab::test_support {

Matrix random_normal(int64_t rows, int64_t cols, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  Matrix m(static_cast<size_t>(rows * cols));
  for (double& v : m) v = normal(rng);
  return m;
}

Matrix matmul(const Matrix& a, const Matrix& b, int64_t n, int64_t k, int64_t m) {
  Matrix c(static_cast<size_t>(n * m), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t t = 0; t < k; ++t)
      for (int64_t j = 0; j < m; ++j) c[i * m + j] += a[i * k + t] * b[t * m + j];
  return c;
}

Matrix transpose(const Matrix& a, int64_t rows, int64_t cols) {
  Matrix t(a.size());
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) t[j * rows + i] = a[i * cols + j];
  return t;
}

Matrix random_orthogonal(int64_t p, uint64_t seed) {
  Matrix a = random_normal(p, p, seed);
  for (int64_t j = 0; j < p; ++j) {
    for (int64_t prev = 0; prev < j; ++prev) {
      double proj = 0.0;
      for (int64_t i = 0; i < p; ++i) proj += a[i * p + j] * a[i * p + prev];
      for (int64_t i = 0; i < p; ++i) a[i * p + j] -= proj * a[i * p + prev];
    }
    double norm = 0.0;
    for (int64_t i = 0; i < p; ++i) norm += a[i * p + j] * a[i * p + j];
    for (int64_t i = 0; i < p; ++i) a[i * p + j] /= std::sqrt(norm);
  }
  return a;
}

}  // namespace convlab::test_support
