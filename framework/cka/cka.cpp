#include "framework/cka/cka.h"

#include <cmath>
#include <vector>

#include "framework/cka/centring.h"
#include "framework/cka/gram.h"
#include "framework/cka/hsic.h"
#include "framework/cka/linear_cka.h"
#include "framework/cka/warning.h"
#include "framework/core/error.h"
#include "kernels/gram.h"

namespace convlab::cka {

double cka_from_grams(const double* k, const double* l, int64_t n, Estimator estimator, const std::string& name_k,
                      const std::string& name_l) {
  std::vector<double> kc(k, k + n * n), lc(l, l + n * n);  // (n, n) each, centred below
  const bool k_constant = centre_for(estimator, kc.data(), n);
  const bool l_constant = centre_for(estimator, lc.data(), n);
  if (k_constant || l_constant) {
    warn_undefined_cka(layer_label(name_k), k_constant, layer_label(name_l), l_constant);
    return NAN;
  }
  // The estimators' normalisers, (n-1)^2 or n(n-3), cancel in the ratio.
  const int64_t count = n * n;
  return kernels::cka_from_hsic(dot(kc.data(), lc.data(), count), dot(kc.data(), kc.data(), count),
                                dot(lc.data(), lc.data(), count));
}

void check_same_examples(const FeatureView& x, const FeatureView& y) {
  CONVLAB_CHECK(x.rows() == y.rows(),
                "CKA compares the same examples at two layers: {} has {} examples (rows) but {} has {}", x.label(),
                x.rows(), y.label(), y.rows());
}

double cka(const FeatureView& x, const FeatureView& y, const Options& options) {
  check_same_examples(x, y);
  check_examples(options.estimator, x.rows());
  if (options.kernel.kind == KernelKind::linear && options.estimator == Estimator::biased)
    return linear_cka(x, y, LinearCkaSpace::automatic);
  const std::vector<double> k = gram(x, options.kernel);  // (n, n)
  const std::vector<double> l = gram(y, options.kernel);  // (n, n)
  return cka_from_grams(k.data(), l.data(), x.rows(), options.estimator, x.name(), y.name());
}

}  // namespace convlab::cka
