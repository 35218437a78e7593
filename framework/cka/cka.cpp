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

namespace {

// CKA of two Grams centred for their estimator; a constant one (zeroed by centre_for) makes it
// NaN, with a warning.
double cka_from_centred(const std::vector<double>& kc, bool k_constant, const std::vector<double>& lc,
                        bool l_constant, int64_t n, const std::string& name_k, const std::string& name_l) {
  if (k_constant || l_constant) {
    warn_undefined_cka(layer_label(name_k), k_constant, layer_label(name_l), l_constant);
    return NAN;
  }
  // The estimators' normalisers, (n-1)^2 or n(n-3), cancel in the ratio.
  const int64_t count = n * n;
  return kernels::cka_from_hsic(dot(kc.data(), lc.data(), count), dot(kc.data(), kc.data(), count),
                                dot(lc.data(), lc.data(), count));
}

}  // namespace

double cka_from_grams(const double* k, const double* l, int64_t n, Estimator estimator, const std::string& name_k,
                      const std::string& name_l) {
  std::vector<double> kc(k, k + n * n), lc(l, l + n * n);  // (n, n) each, centred below
  const bool k_constant = centre_for(estimator, kc.data(), n);
  const bool l_constant = centre_for(estimator, lc.data(), n);
  return cka_from_centred(kc, k_constant, lc, l_constant, n, name_k, name_l);
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
  if (options.kernel.kind == KernelKind::rbf) {  // centred as it is made, so that a flat kernel is named
    std::vector<double> k = gram(x, Kernel::linear()), l = gram(y, Kernel::linear());  // (n, n) each
    const double frac = options.kernel.rbf_frac;
    const bool k_constant = centred_rbf_gram(k.data(), x.rows(), frac, options.estimator, x.label());
    const bool l_constant = centred_rbf_gram(l.data(), y.rows(), frac, options.estimator, y.label());
    return cka_from_centred(k, k_constant, l, l_constant, x.rows(), x.name(), y.name());
  }
  const std::vector<double> k = gram(x, options.kernel);  // (n, n)
  const std::vector<double> l = gram(y, options.kernel);  // (n, n)
  return cka_from_grams(k.data(), l.data(), x.rows(), options.estimator, x.name(), y.name());
}

}  // namespace convlab::cka
