// Mutual k-nearest-neighbour alignment (Huh et al. 2024, "The Platonic Representation
// Hypothesis"): the mean over examples i of |N_A(i) ∩ N_B(i)| / k, where N_X(i) are the k
// nearest neighbours of i among the other examples of the batch in representation X
// (neighbours.h). 1 when both representations order every example's neighbourhood alike;
// about k / (n - 1) for unrelated ones. Symmetric. Invariant to any per-example scaling and to
// orthogonal maps (they keep cosines), not to translations (the features are not centred).
//
// Minibatch estimator: neighbours are searched within a batch of k examples, so the batch size
// is part of the definition (the paper's is its evaluation set); the value is the mean of
// per-batch values weighted by batch size. Per batch: one float64 Gram per layer (n^2 p) and
// a selection (n^2); per pair n k.
#pragma once

#include <cstdint>
#include <vector>

#include "framework/knn/neighbours.h"
#include "framework/knn/neighbour_accumulator.h"

namespace convlab::knn {

inline constexpr int64_t kDefaultNeighbours = 10;

double mutual_knn(const Neighbours& a, const Neighbours& b);

// Full batch: two layers' features of the same n examples.
double mutual_knn(const cka::FeatureView& x, const cka::FeatureView& y, int64_t k = kDefaultNeighbours);

class MutualKnnAccumulator final : public NeighbourAccumulator {
 public:
  // layers_b 0: network A against itself, (L, L); else (L, M). k: the neighbours.
  MutualKnnAccumulator(int64_t layers_a, int64_t layers_b, int64_t k);

 private:
  double score(const Neighbours& a, const Neighbours& b) const override { return mutual_knn(a, b); }
};

}  // namespace convlab::knn
