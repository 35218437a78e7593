// Permutation tests of similarity matrices: is a cell larger than the measure gives two
// unrelated layers? The null: the examples of network B are shuffled (within each batch, for
// the minibatch estimators), which keeps each layer's own structure and breaks every relation
// between A and B. Each permutation's matrix is computed from the same per-batch terms as the
// estimate (batches weighted by size, CKA and CKNNA as ratios of mean terms), so it is what
// the measure would read for B's examples in that order.
//
// Permutation p of batch b is a Fisher-Yates shuffle driven by the Philox stream (seed, p),
// words indexed by b: the same seed gives the same permutations on any machine, and every
// measure of one analysis sees the same ones.
#pragma once

#include <cstdint>
#include <vector>

namespace convlab::stats {

// Row i of B's permuted features is B's example perm[i]; k examples.
std::vector<int32_t> batch_permutation(uint64_t seed, int64_t batch, int64_t permutation, int64_t k);
// inverse[perm[i]] = i.
std::vector<int32_t> inverse_permutation(const std::vector<int32_t>& perm);

// Per cell: the permutation p-value with the +1 correction, (1 + #{null at least as similar as
// observed}) / (P + 1), which is never 0 and is exact-valid (Phipson and Smyth 2010); the
// null's mean and its 5th and 95th percentiles; and whether the cell is significant at `alpha`
// after Holm's correction over every cell of the matrix. A NaN cell (or NaN null values) has
// a NaN p-value and is not significant. For distances (Procrustes) more similar is smaller.
struct PermutationSummary {
  int64_t permutations = 0;
  uint64_t seed = 0;
  double alpha = 0.05;
  bool lower_is_similar = false;
  std::vector<double> p_value, null_mean, null_q05, null_q95;
  std::vector<bool> significant;
};

inline constexpr double kDefaultAlpha = 0.05;

// null[p] holds the (cells) matrix of permutation p.
PermutationSummary summarise_permutations(const std::vector<double>& observed,
                                          const std::vector<std::vector<double>>& null, bool lower_is_similar,
                                          uint64_t seed, double alpha = kDefaultAlpha);

// Holm (1979): sort the m defined p-values ascending; reject while p_(i) <= alpha / (m - i + 1)
// (i from 1), stop at the first that is not. NaN: not significant, not counted in m.
std::vector<bool> holm_significant(const std::vector<double>& p_values, double alpha);

}  // namespace convlab::stats
