// CKA(K, L) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)) for one pair of layers. For many pairs,
// or features that come in batches, use CkaAccumulator (accumulator.h).
#pragma once

#include <cstdint>
#include <string>

#include "framework/cka/features.h"
#include "framework/cka/options.h"

namespace convlab::cka {

// CKA of two Gram matrices (n, n) f64 of the same examples, row-major, symmetric. NaN, with a
// warning on stderr naming the layer(s), when a self-HSIC is zero (see centre_for).
double cka_from_grams(const double* k, const double* l, int64_t n, Estimator estimator,
                      const std::string& name_k = {}, const std::string& name_l = {});

// CKA of two layers' features, whose rows are the same n examples in the same order. Throws
// for a different number of rows, NaN or infinite features, or too few examples for the
// estimator. The linear kernel with the biased estimator takes the cheaper of Gram and
// feature space (linear_cka.h); the value is the same.
double cka(const FeatureView& x, const FeatureView& y, const Options& options = {});

// Throws unless x and y hold the same number of examples.
void check_same_examples(const FeatureView& x, const FeatureView& y);

}  // namespace convlab::cka
