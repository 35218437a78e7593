#include "tests/support/measure_data.h"

#include <algorithm>
#include <cmath>

namespace convlab::test_support {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

Matrix rows_of(const Matrix& x, int64_t p, int64_t first, int64_t count) {
  return Matrix(x.begin() + first * p, x.begin() + (first + count) * p);
}

Matrix related(const Matrix& x, int64_t n, int64_t p, int64_t q, uint64_t seed, double noise) {
  Matrix y = matmul(x, random_normal(p, q, seed), n, p, q);
  const Matrix e = random_normal(n, q, seed + 1);
  for (size_t i = 0; i < y.size(); ++i) y[i] = std::tanh(y[i]) + noise * e[i];
  return y;
}

Matrix decaying(int64_t n, int64_t p, uint64_t seed) {
  Matrix x = random_normal(n, p, seed);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < p; ++j) x[static_cast<size_t>(i * p + j)] *= std::pow(0.45, static_cast<double>(j));
  return x;
}

std::vector<double> reference_cosines(const Matrix& x, int64_t n, int64_t p) {
  std::vector<double> c(static_cast<size_t>(n * n));
  std::vector<long double> norm(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    long double s = 0;
    for (int64_t f = 0; f < p; ++f) s += static_cast<long double>(x[i * p + f]) * x[i * p + f];
    norm[static_cast<size_t>(i)] = std::sqrt(s);
  }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      long double s = 0;
      for (int64_t f = 0; f < p; ++f) s += static_cast<long double>(x[i * p + f]) * x[j * p + f];
      const long double d = norm[static_cast<size_t>(i)] * norm[static_cast<size_t>(j)];
      c[static_cast<size_t>(i * n + j)] = d > 0 ? static_cast<double>(s / d) : 0.0;
    }
  return c;
}

std::vector<int32_t> ranked(const std::vector<double>& cosine, int64_t n, int64_t i) {
  std::vector<int32_t> order;
  for (int64_t j = 0; j < n; ++j)
    if (j != i) order.push_back(static_cast<int32_t>(j));
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return cosine[static_cast<size_t>(i * n + a)] > cosine[static_cast<size_t>(i * n + b)];
  });
  return order;
}

double smallest_boundary_gap(const std::vector<double>& cosine, int64_t n, int64_t k) {
  double gap = INFINITY;
  for (int64_t i = 0; i < n; ++i) {
    const std::vector<int32_t> order = ranked(cosine, n, i);
    gap = std::min(gap, cosine[static_cast<size_t>(i * n + order[static_cast<size_t>(k - 1)])] -
                            cosine[static_cast<size_t>(i * n + order[static_cast<size_t>(k)])]);
  }
  return gap;
}

}  // namespace convlab::test_support
