// Per-element math of representational similarity analysis (RSA), shared by the CPU code in
// framework/rsa and its CUDA twin: the correlation distance between two examples from their
// row-centred Gram entries, the place of a pair in an RDM's upper triangle, and average
// ranks of tied values.
#pragma once

#include <math.h>
#include <cstdint>

#include "kernels/hd.h"

namespace convlab::kernels {

// 1 - Pearson correlation of examples i and j across their p features, from the Gram of
// their row-centred features: g_ij = <x_i - mean(x_i), x_j - mean(x_j)>. An example whose
// features are all equal has no defined correlation; it counts as uncorrelated with every
// other (distance 1), and framework/rsa says so.
CONVLAB_HD double correlation_distance(double g_ij, double g_ii, double g_jj) {
  if (!(g_ii > 0.0) || !(g_jj > 0.0)) return 1.0;
  return 1.0 - g_ij / sqrt(g_ii * g_jj);
}

// Pairs i < j of k examples, row by row: the upper triangle of a (k, k) RDM as a vector of
// k (k - 1) / 2 values; pair (i, j) is at position i (2k - i - 1) / 2 + (j - i - 1).
CONVLAB_HD int64_t upper_pair_count(int64_t k) { return k * (k - 1) / 2; }
CONVLAB_HD int64_t upper_pair_index(int64_t i, int64_t j, int64_t k) { return i * (2 * k - i - 1) / 2 + (j - i - 1); }

// The average rank (1-based) of a value whose equal values occupy sorted positions
// [first, end): the ranks first + 1 .. end, whose mean is (first + 1 + end) / 2.
CONVLAB_HD double average_rank(int64_t first, int64_t end) {
  return 0.5 * static_cast<double>(first + 1 + end);
}

// A rank minus the mean rank (count + 1) / 2 of `count` values: the centred ranks whose
// normalised inner product is the Spearman correlation. Exact (halves) in f64.
CONVLAB_HD double centred_rank(double rank, int64_t count) { return rank - 0.5 * static_cast<double>(count + 1); }

// The correlation of two vectors from their inner product and squared norms; NaN when either
// is constant (zero norm after centring).
CONVLAB_HD double correlation_from_products(double cross, double self_a, double self_b) {
  const double denominator = sqrt(self_a * self_b);
  if (!(denominator > 0.0)) return NAN;
  return cross / denominator;
}

}  // namespace convlab::kernels
