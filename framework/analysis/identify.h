// Which layer is which: the test Kornblith et al. (2019, section 6.1, table 2) used to choose
// between similarity measures. Given networks of one architecture trained from different
// seeds, a good measure finds, for each layer of network A, that the most similar layer of
// network B is the corresponding one. For each measure (each CKA kernel separately) the
// accuracy is the share of (ordered pair of networks, layer of A) for which it does, over
// every ordered pair (A, B), A != B, and every layer.
//
// "Most similar" is the largest value of the row (the smallest for the Procrustes distance).
// A tie among t layers that includes the right one counts 1 / t (the expectation of breaking
// it at random); NaN cells are never the most similar. Asymmetric measures are read in the
// order (A's layer, B's layer), A the network whose layer is to be identified.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/analysis/compare.h"

namespace convlab {

struct IdentifyRow {
  std::string measure;  // "cka linear", "cka rbf", "rsa", ..., as identify_label()
  double accuracy = 0;  // in [0, 1]
  int64_t layers = 0, pairs = 0;
  std::vector<double> per_layer;  // (layers): the accuracy for each layer of A, over the pairs
};

// The label of a matrix's measure in the table: the measure's name, CKA's with its kernel.
std::string identify_label(const SimilarityMatrix& m);

// The credit a row earns: 1 when cell `right` alone holds the best value, 1 / t for a tie of
// t that includes it, 0 otherwise (and for a row of NaN). `lower_is_better` for distances.
double identification_credit(const double* row, int64_t cols, int64_t right, bool lower_is_better);

// From the matrices of every ordered pair: pair_matrices[p] holds the matrices of one ordered
// pair (A's layers as rows, B's as columns), all pairs with the measures in the same order.
// Every matrix must be square (one architecture) with the same layer names on both axes.
std::vector<IdentifyRow> identify_layers(const std::vector<std::vector<SimilarityMatrix>>& pair_matrices);

// Runs the comparisons and the test: `networks` (2 or more, one architecture) against each
// other in every ordered pair. Each network serves once as B (compare_against), so its
// features are extracted once per batch as B, and once per batch for every other network as A.
// `pair_matrices`, if given, receives the matrices (ordered pairs as listed by
// identify_pairs).
std::vector<IdentifyRow> identify_layers(const std::vector<FeatureSource*>& networks, const CompareSettings& settings,
                                         std::vector<std::vector<SimilarityMatrix>>* pair_matrices = nullptr);

// The ordered pairs (a, b), a != b, in the order identify_layers computes them: by b, then a.
std::vector<std::pair<size_t, size_t>> identify_pairs(size_t networks);

}  // namespace convlab
