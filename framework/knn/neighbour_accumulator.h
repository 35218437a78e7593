// What mutual k-NN and CKNNA share as minibatch measures: each layer's k nearest neighbours in
// every batch (from the batch's raw float64 Gram, shared with the other measures, exact copies
// tied), relabelled for the permutation test, and a score of two layers' neighbours.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/knn/neighbours.h"
#include "framework/stats/pair_accumulator.h"

namespace convlab::knn {

class NeighbourAccumulator : public stats::PairAccumulator {
 protected:
  // Throws, naming `name` and --knn, for k < 1. A batch needs at least `min_examples`.
  NeighbourAccumulator(int64_t layers_a, int64_t layers_b, bool symmetric, int64_t extra_terms, std::string name,
                       int64_t min_examples, int64_t k);
  // The pair's per-batch term from A's neighbours and B's.
  virtual double score(const Neighbours& a, const Neighbours& b) const = 0;
  // This batch's neighbours, by row (A's, then B's).
  const std::vector<Neighbours>& rows() const { return rows_; }

 private:
  void prepare(int64_t row, linalg::LayerGrams& x) override;
  double pair_value(int64_t row_a, int64_t row_b) const override;
  void clear() override;
  void permute(const std::vector<int32_t>& perm, const std::vector<int32_t>& inverse) override;
  double permuted_pair_value(int64_t row_a, int64_t row_b) const override;

  int64_t k_;
  std::vector<Neighbours> rows_, permuted_;
};

}  // namespace convlab::knn
