// HSIC of two Gram matrices K and L of the same n examples: (n, n) f64, row-major,
// symmetric (as gram() makes them). Inputs are read only; sums are accumulated in f64.
#pragma once

#include <cstdint>

#include "framework/cka/options.h"

namespace convlab::cka {

// <HKH, HLH>_F / (n-1)^2, centring copies of K and L (centre_gram). O(n^2). Needs n >= 2.
double hsic_biased(const double* k, const double* l, int64_t n);

// Song et al. (2012) with diag(K) = diag(L) = 0:
//   [tr(KL) + (1^T K 1)(1^T L 1)/((n-1)(n-2)) - 2/(n-2) 1^T K L 1] / (n(n-3)),
// in O(n^2): tr(KL) = sum_ij K_ij L_ij and 1^T K L 1 = (K1).(L1) for symmetric K, L.
// Needs n >= 4; can be negative.
double hsic_debiased(const double* k, const double* l, int64_t n);

double hsic(Estimator estimator, const double* k, const double* l, int64_t n);

// sum_i a_i b_i over count values, in f64.
double dot(const double* a, const double* b, int64_t count);

}  // namespace convlab::cka
