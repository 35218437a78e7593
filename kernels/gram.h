// Per-element math of Gram matrices and HSIC, shared by the CPU code in framework/cka and the
// CUDA kernels in framework/cka/cuda that compute the same Grams on the device. Everything here
// is double precision (only the column shift returns the features' type): Gram entries of wide
// layers are sums of ~1e5 products, and centring subtracts large means.
#pragma once

#include <math.h>  // also brings the overloads into scope on the host
#include <cstdint>

#include "kernels/hd.h"

namespace convlab::kernels {

// Entry (i, j) of H K H with H = I - 11^T/n, given the mean of row i, the mean of column j
// and the mean of all of K: centring never needs H itself.
CONVLAB_HD double centre_entry(double k_ij, double row_mean_i, double col_mean_j, double grand_mean) {
  return k_ij - row_mean_i - col_mean_j + grand_mean;
}

// U-centring (Szekely and Rizzo 2014), the centring of the debiased estimator: with the
// diagonal of K set to zero and R_i, C_j, S its row sums, column sums and total,
//   K~_ij = K_ij - R_i/(n-2) - C_j/(n-2) + S/((n-1)(n-2))  for i != j,   K~_ii = 0.
// Then <K~, L~>_F / (n(n-3)) is exactly the debiased HSIC of Song et al. (2012).
CONVLAB_HD double u_centre_entry(double k_ij, double row_sum_i, double col_sum_j, double total, int64_t n,
                                 bool diagonal) {
  if (diagonal) return 0.0;
  const double m2 = static_cast<double>(n - 2);
  const double m1 = static_cast<double>(n - 1);
  return centre_entry(k_ij, row_sum_i / m2, col_sum_j / m2, total / (m1 * m2));
}

// The debiased estimator ignores self-similarities: the diagonal of K counts as zero.
CONVLAB_HD double off_diagonal(double k_ij, bool diagonal) { return diagonal ? 0.0 : k_ij; }

// Squared Euclidean distance between examples i and j from their Gram entries:
// |x_i - x_j|^2 = K_ii + K_jj - 2 K_ij. Rounding can make it slightly negative; clamp at 0.
CONVLAB_HD double squared_distance(double k_ii, double k_jj, double k_ij) {
  const double d = k_ii + k_jj - 2.0 * k_ij;
  return d > 0.0 ? d : 0.0;
}

// RBF kernel entry exp(-d / (2 s^2)) for squared distance d and width s^2. A zero width (more
// than half of the distances are zero) takes the limit s -> 0: 1 for coinciding points, 0
// otherwise, instead of 0/0.
CONVLAB_HD double rbf_entry(double squared_dist, double width_sq) {
  if (squared_dist <= 0.0) return 1.0;
  if (width_sq <= 0.0) return 0.0;
  return exp(-squared_dist / (2.0 * width_sq));
}

// Biased HSIC from a Frobenius product of centred Grams: <HKH, HLH>_F / (n-1)^2.
CONVLAB_HD double biased_hsic_from_product(double centred_product, int64_t n) {
  const double m1 = static_cast<double>(n - 1);
  return centred_product / (m1 * m1);
}

// Debiased HSIC from U-centred Grams: <K~, L~>_F / (n(n-3)).
CONVLAB_HD double debiased_hsic_from_product(double u_centred_product, int64_t n) {
  return u_centred_product / (static_cast<double>(n) * static_cast<double>(n - 3));
}

// Debiased HSIC (Song et al. 2012) from its three terms, with diag(K) = diag(L) = 0:
//   [tr(KL) + (1^T K 1)(1^T L 1)/((n-1)(n-2)) - 2/(n-2) 1^T K L 1] / (n(n-3)).
CONVLAB_HD double debiased_hsic_terms(double trace_kl, double sum_k, double sum_l, double ones_kl_ones,
                                      int64_t n) {
  const double nd = static_cast<double>(n);
  const double m1 = nd - 1.0, m2 = nd - 2.0, m3 = nd - 3.0;
  return (trace_kl + sum_k * sum_l / (m1 * m2) - 2.0 / m2 * ones_kl_ones) / (nd * m3);
}

// The shift that centres one feature column: the column's mean, from its f64 sum over n rows,
// rounded to the features' type. A column whose values all equal its first value is shifted
// by that value, so that it becomes exactly zero (constant features give an exactly zero Gram).
template <class T>
CONVLAB_HD T column_shift(T first_value, double column_sum, int64_t n, bool constant) {
  return constant ? first_value : static_cast<T>(column_sum / static_cast<double>(n));
}

// The power of two that brings a layer's features to magnitude about 1 before their products
// are formed: 2^-e for the largest magnitude max_abs = m 2^e (0.5 <= m < 1). Features of
// 1e-30 or 1e30 are representable in f32, but their products underflow to zero or overflow
// to infinity there; scaled by a power of two they lose no bits, and the f64 Gram is scaled
// back (range_unscale), so Grams keep their true values. 1 for max_abs 0 (a zero layer).
CONVLAB_HD double range_scale(double max_abs) {
  if (!(max_abs > 0.0) || !isfinite(max_abs)) return 1.0;
  int exponent = 0;
  frexp(max_abs, &exponent);
  return ldexp(1.0, -exponent);
}

// The factor that turns a Gram of features scaled by `scale` back into the true Gram.
CONVLAB_HD double range_unscale(double scale) { return 1.0 / (scale * scale); }

// The median of `count` sorted values from the middle ones: upper is the value at index
// count / 2, lower the one before it (read only for an even count, as numpy averages them).
CONVLAB_HD double median_from_middle(double lower, double upper, int64_t count) {
  return count % 2 == 1 ? upper : 0.5 * (lower + upper);
}

// The RBF width s^2 = frac^2 * median of the squared distances.
CONVLAB_HD double rbf_width_sq(double frac, double median_squared_distance) {
  return frac * frac * median_squared_distance;
}

// A Gram that does not vary over the examples centres to rounding noise of its means. When
// the centred Gram's squared Frobenius norm is at most kCentringRoundingLevel^2 times the
// uncentred one's, what is left is that noise, and the Gram counts as exactly zero.
inline constexpr double kCentringRoundingLevel = 1e-10;
CONVLAB_HD bool centred_to_rounding(double centred_sq_norm, double uncentred_sq_norm) {
  return centred_sq_norm <= kCentringRoundingLevel * kCentringRoundingLevel * uncentred_sq_norm;
}

// CKA from one cross and two self HSIC values. A zero self-HSIC (constant features) gives
// NaN: the similarity is undefined there, and 0/0 says so.
CONVLAB_HD double cka_from_hsic(double hsic_kl, double hsic_kk, double hsic_ll) {
  const double denominator = sqrt(hsic_kk * hsic_ll);
  if (!(denominator > 0.0)) return NAN;
  return hsic_kl / denominator;
}

}  // namespace convlab::kernels
