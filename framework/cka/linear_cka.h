// Linear CKA with the biased estimator, in whichever space is cheaper. With X, Y centred per
// column, HSIC(XX^T, YY^T) (n-1)^2 = ||X^T Y||_F^2 = ||Y^T X||_F^2, so
//   CKA = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F),
// the same value from (p, p) products instead of (n, n) Grams.
#pragma once

#include <cstdint>

#include "framework/cka/features.h"

namespace convlab::cka {

enum class LinearCkaSpace {
  automatic,  // the cheaper of the two (cheaper_linear_cka_space)
  gram,       // (n, n) Grams: about n^2 (p1 + p2) / 2 multiply-adds
  feature,    // (p, p) products: about n (p1 + p2)^2 / 2 multiply-adds
};

// Feature space when p1 + p2 < n, Gram space otherwise (the two costs above).
LinearCkaSpace cheaper_linear_cka_space(int64_t n, int64_t p1, int64_t p2);

// Biased linear CKA of two layers' features (same n examples); all products in f64. NaN with
// a warning for constant features; throws for mismatched n, NaN input, n < 2.
double linear_cka(const FeatureView& x, const FeatureView& y, LinearCkaSpace space = LinearCkaSpace::automatic);

}  // namespace convlab::cka
