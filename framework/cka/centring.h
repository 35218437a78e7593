// Centring a Gram matrix in place, in O(n^2), without forming H = I - 11^T/n (which would
// cost O(n^3) per pair): one pass for the row and column sums, one pass that rewrites every
// entry with kernels/gram.h. K is (n, n) f64, row-major; it need not be symmetric.
#pragma once

#include <cstdint>

#include "framework/cka/options.h"
#include "kernels/gram.h"

namespace convlab::cka {

// K <- H K H: subtract row means and column means, add the grand mean. Needs n >= 1.
void centre_gram(double* k, int64_t n);

// K <- U-centred K (zero diagonal; see kernels::u_centre_entry), after which
// <K~, L~>_F / (n(n-3)) is the debiased HSIC. Needs n >= 4.
void u_centre_gram(double* k, int64_t n);

// The centring the estimator needs: centre_gram for biased, u_centre_gram for debiased. A
// kernel that does not vary over the examples (constant features, any kernel) centres to
// rounding noise; when the centred Gram's Frobenius norm is below kRoundingLevel times the
// uncentred one, it is set to exactly zero and true is returned, so that its self-HSIC is 0
// and CKA with it is NaN rather than a ratio of rounding errors.
inline constexpr double kRoundingLevel = kernels::kCentringRoundingLevel;
bool centre_for(Estimator estimator, double* k, int64_t n);

// The smallest n the estimator accepts (2 biased, 4 debiased), and a check naming it.
int64_t min_examples(Estimator estimator);
void check_examples(Estimator estimator, int64_t n);

}  // namespace convlab::cka
