#include "framework/knn/neighbour_accumulator.h"

#include "framework/core/error.h"

namespace convlab::knn {

NeighbourAccumulator::NeighbourAccumulator(int64_t layers_a, int64_t layers_b, bool symmetric, int64_t extra_terms,
                                           std::string name, int64_t min_examples, int64_t k)
    : PairAccumulator(layers_a, layers_b, symmetric, extra_terms, name, min_examples, INT32_MAX), k_(k) {
  CONVLAB_CHECK(k >= 1, "{} needs at least 1 neighbour (--knn), got {}", name, k);
}

void NeighbourAccumulator::prepare(int64_t row, linalg::LayerGrams& x) {
  if (static_cast<int64_t>(rows_.size()) <= row) rows_.resize(static_cast<size_t>(row + 1));
  std::vector<double> g = x.gram(linalg::Centring::none);
  tie_copies(x.first_copies(), g);
  rows_[static_cast<size_t>(row)] = neighbours_from_gram(g, x.rows(), k_);
}

double NeighbourAccumulator::pair_value(int64_t row_a, int64_t row_b) const {
  return score(rows_[static_cast<size_t>(row_a)], rows_[static_cast<size_t>(row_b)]);
}

void NeighbourAccumulator::clear() {
  rows_.clear();
  permuted_.clear();
}

void NeighbourAccumulator::permute(const std::vector<int32_t>& perm, const std::vector<int32_t>& inverse) {
  permuted_.resize(rows_.size());
  for (size_t r = 0; r < rows_.size(); ++r)
    if (is_b_row(static_cast<int64_t>(r))) permuted_[r] = permuted_neighbours(rows_[r], perm, inverse);
}

double NeighbourAccumulator::permuted_pair_value(int64_t row_a, int64_t row_b) const {
  return score(rows_[static_cast<size_t>(row_a)], permuted_[static_cast<size_t>(row_b)]);
}

}  // namespace convlab::knn
