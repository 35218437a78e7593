#include "framework/knn/mutual_knn.h"

#include "framework/cka/cka.h"
#include "framework/core/error.h"

namespace convlab::knn {

double mutual_knn(const Neighbours& a, const Neighbours& b) {
  CONVLAB_CHECK(a.n == b.n && a.k == b.k, "mutual k-NN compares neighbours of the same examples: {} x {} against {} x {}",
                a.n, a.k, b.n, b.k);
  int64_t shared = 0;
  for (int64_t i = 0; i < a.n; ++i) {
    const int32_t *x = a.row(i), *y = b.row(i);  // both ascending
    int64_t p = 0, q = 0;
    while (p < a.k && q < a.k) {
      if (x[p] == y[q]) {
        ++shared;
        ++p;
        ++q;
      } else if (x[p] < y[q]) {
        ++p;
      } else {
        ++q;
      }
    }
  }
  return static_cast<double>(shared) / static_cast<double>(a.n * a.k);
}

double mutual_knn(const cka::FeatureView& x, const cka::FeatureView& y, int64_t k) {
  cka::check_same_examples(x, y);
  return mutual_knn(nearest_neighbours(x, k), nearest_neighbours(y, k));
}

MutualKnnAccumulator::MutualKnnAccumulator(int64_t layers_a, int64_t layers_b, int64_t k)
    : PairAccumulator(layers_a, layers_b, /*symmetric=*/true, 0, "mutual k-NN", k + 1, INT32_MAX), k_(k) {
  CONVLAB_CHECK(k >= 1, "mutual k-NN needs at least 1 neighbour (--knn), got {}", k);
}

void MutualKnnAccumulator::prepare(int64_t row, const cka::FeatureView& x) {
  if (static_cast<int64_t>(rows_.size()) <= row) rows_.resize(static_cast<size_t>(row + 1));
  std::vector<double> g = gram(x, linalg::Centring::none);
  tie_duplicate_examples(x, g);
  rows_[static_cast<size_t>(row)] = neighbours_from_gram(g, x.rows(), k_);
}

double MutualKnnAccumulator::pair_value(int64_t row_a, int64_t row_b) const {
  return mutual_knn(rows_[static_cast<size_t>(row_a)], rows_[static_cast<size_t>(row_b)]);
}

void MutualKnnAccumulator::permute(const std::vector<int32_t>& perm, const std::vector<int32_t>& inverse) {
  permuted_.resize(rows_.size());
  for (size_t r = 0; r < rows_.size(); ++r)
    if (is_b_row(static_cast<int64_t>(r))) permuted_[r] = permuted_neighbours(rows_[r], perm, inverse);
}

double MutualKnnAccumulator::permuted_pair_value(int64_t row_a, int64_t row_b) const {
  return mutual_knn(rows_[static_cast<size_t>(row_a)], permuted_[static_cast<size_t>(row_b)]);
}

}  // namespace convlab::knn
