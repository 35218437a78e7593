#include "framework/linalg/gram_f64.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>

#include "framework/core/error.h"
#include "kernels/gram_f64.h"

namespace convlab::linalg {

namespace {

constexpr int64_t kBlock = 1024;  // features widened per step: (n, 1024) doubles

double value_at(const cka::FeatureView& x, int64_t i, int64_t j) {
  return x.is_f32() ? static_cast<double>(x.f32()[i * x.cols() + j]) : x.f64()[i * x.cols() + j];
}

}  // namespace

std::vector<double> gram_f64(const cka::FeatureView& x, Centring centring, int* exponent_out) {
  const int64_t n = x.rows(), p = x.cols();
  double largest = 0.0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < p; ++j) {
      const double v = value_at(x, i, j);
      CONVLAB_CHECK(std::isfinite(v), "{} has {} feature (example {}, feature {}): the measures need finite "
                    "features", x.label(), std::isnan(v) ? "a NaN" : "an infinite", i, j);
      largest = std::max(largest, std::abs(v));
    }
  int exponent = 0;
  if (largest > 0.0) std::frexp(largest, &exponent);  // largest = m 2^exponent, 0.5 <= m < 1
  if (exponent_out) *exponent_out = exponent;
  const double factor = kernels::gram_scale_by_factor(exponent) ? std::ldexp(1.0, -exponent) : 0.0;
  std::vector<double> k(static_cast<size_t>(n * n), 0.0);
  std::vector<double> block;  // (n, width) row-major
  std::vector<double> means;  // (width)
  for (int64_t first = 0; first < p; first += kBlock) {
    const int64_t width = std::min(kBlock, p - first);
    block.assign(static_cast<size_t>(n * width), 0.0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < width; ++j) {
        const double v = value_at(x, i, first + j);
        block[i * width + j] = kernels::gram_scaled_feature(v, exponent, factor);
      }
    if (centring == Centring::columns) {  // row by row: the block is row-major
      means.assign(static_cast<size_t>(width), 0.0);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < width; ++j) means[static_cast<size_t>(j)] += block[i * width + j];
      for (double& m : means) m /= static_cast<double>(n);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < width; ++j) block[i * width + j] -= means[static_cast<size_t>(j)];
    }
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, static_cast<int>(n), static_cast<int>(width), 1.0,
                block.data(), static_cast<int>(width), 1.0, k.data(), static_cast<int>(n));
  }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < i; ++j) k[i * n + j] = k[j * n + i];
  return k;
}

}  // namespace convlab::linalg
