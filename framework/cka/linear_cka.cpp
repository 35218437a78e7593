#include "framework/cka/linear_cka.h"

#include <cblas.h>

#include <cmath>
#include <vector>

#include "framework/cka/centring.h"
#include "framework/cka/cka.h"
#include "framework/cka/gram.h"
#include "framework/cka/hsic.h"
#include "framework/cka/warning.h"
#include "kernels/gram.h"

namespace convlab::cka {
namespace {

// Column-centred features in f64: the (p, p) products sum n terms each.
std::vector<double> centred_f64(const FeatureView& x) {
  CentredFeatures c = centre_columns(x);
  if (!c.f64.empty()) return std::move(c.f64);
  return std::vector<double>(c.f32.begin(), c.f32.end());
}

// ||A^T A||_F^2 for A (n, p), from the upper triangle that dsyrk fills.
double self_product_norm_sq(const std::vector<double>& a, int64_t n, int64_t p) {
  std::vector<double> c(static_cast<size_t>(p * p));  // (p, p)
  cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, p, n, 1.0, a.data(), p, 0.0, c.data(), p);
  double diagonal = 0.0, upper = 0.0;
  for (int64_t i = 0; i < p; ++i) {
    diagonal += c[i * p + i] * c[i * p + i];
    for (int64_t j = i + 1; j < p; ++j) upper += c[i * p + j] * c[i * p + j];
  }
  return diagonal + 2.0 * upper;
}

double feature_space(const FeatureView& x, const FeatureView& y) {
  const int64_t n = x.rows(), p1 = x.cols(), p2 = y.cols();
  const std::vector<double> xc = centred_f64(x);  // (n, p1)
  const std::vector<double> yc = centred_f64(y);  // (n, p2)
  std::vector<double> yx(static_cast<size_t>(p2 * p1));  // (p2, p1) = Y^T X
  cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, p2, p1, n, 1.0, yc.data(), p2, xc.data(), p1, 0.0, yx.data(),
              p1);
  const double cross = dot(yx.data(), yx.data(), p2 * p1);
  const double xx = self_product_norm_sq(xc, n, p1);
  const double yy = self_product_norm_sq(yc, n, p2);
  // Constant columns centre to exact zeros, so constant features give exactly 0 here.
  if (xx == 0.0 || yy == 0.0) {
    warn_undefined_cka(x.label(), xx == 0.0, y.label(), yy == 0.0);
    return NAN;
  }
  return cross / (std::sqrt(xx) * std::sqrt(yy));
}

}  // namespace

LinearCkaSpace cheaper_linear_cka_space(int64_t n, int64_t p1, int64_t p2) {
  return p1 + p2 < n ? LinearCkaSpace::feature : LinearCkaSpace::gram;
}

double linear_cka(const FeatureView& x, const FeatureView& y, LinearCkaSpace space) {
  check_same_examples(x, y);
  check_examples(Estimator::biased, x.rows());
  if (space == LinearCkaSpace::automatic) space = cheaper_linear_cka_space(x.rows(), x.cols(), y.cols());
  if (space == LinearCkaSpace::feature) return feature_space(x, y);
  const std::vector<double> k = gram(x, Kernel::linear());  // (n, n)
  const std::vector<double> l = gram(y, Kernel::linear());  // (n, n)
  return cka_from_grams(k.data(), l.data(), x.rows(), Estimator::biased, x.name(), y.name());
}

}  // namespace convlab::cka
