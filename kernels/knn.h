// Per-element math of the nearest-neighbour measures (mutual k-NN and CKNNA, Huh et al. 2024),
// shared by the CPU code in framework/knn and its CUDA twin: the cosine similarity of two
// examples from their Gram entries, the order that picks neighbours (ties to the lower
// index), and the debiased HSIC of two masked kernels from its sums.
#pragma once

#include <math.h>
#include <cstdint>

#include "kernels/hd.h"

namespace convlab::kernels {

// The inner product of examples i and j after each is scaled to unit L2 norm, from their raw
// Gram entries. An example whose features are all zero has no direction: its similarity to
// every other example is 0 (so its neighbours are the lowest indices).
CONVLAB_HD double cosine_similarity(double g_ij, double g_ii, double g_jj) {
  if (!(g_ii > 0.0) || !(g_jj > 0.0)) return 0.0;
  return g_ij / sqrt(g_ii * g_jj);
}

// Whether candidate a (similarity s_a) is a nearer neighbour than candidate b: the larger
// similarity, and between equal similarities the lower example index. A strict total order,
// so the k nearest neighbours are the same on every machine and device.
CONVLAB_HD bool nearer_neighbour(double s_a, int64_t a, double s_b, int64_t b) {
  return s_a > s_b || (s_a == s_b && a < b);
}

// The debiased HSIC estimator (Song et al. 2012) of two n x n kernels with zero diagonals,
// from four sums: trace = sum_ij K_ij L_ji, sum_k = sum_ij K_ij, sum_l = sum_ij L_ij, and
// cross = sum_ij (K L)_ij = sum_m (column sum m of K)(row sum m of L). Needs n >= 4.
CONVLAB_HD double debiased_hsic_from_sums(double trace, double sum_k, double sum_l, double cross, int64_t n) {
  const double m = static_cast<double>(n);
  return (trace + sum_k * sum_l / ((m - 1.0) * (m - 2.0)) - 2.0 * cross / (m - 2.0)) / (m * (m - 3.0));
}

}  // namespace convlab::kernels
