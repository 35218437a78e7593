#include "framework/knn/mutual_knn.h"

#include <algorithm>

#include "framework/cka/cka.h"
#include "framework/core/error.h"

namespace convlab::knn {

double mutual_knn(const Neighbours& a, const Neighbours& b) {
  CONVLAB_CHECK(a.n == b.n && a.k == b.k, "mutual k-NN compares neighbours of the same examples: {} x {} against {} x {}",
                a.n, a.k, b.n, b.k);
  int64_t shared = 0;
  for (int64_t i = 0; i < a.n; ++i) for_each_shared(a, b, i, [&](int64_t, int64_t) { ++shared; });
  return static_cast<double>(shared) / static_cast<double>(a.n * a.k);
}

double mutual_knn(const cka::FeatureView& x, const cka::FeatureView& y, int64_t k) {
  cka::check_same_examples(x, y);
  return mutual_knn(nearest_neighbours(x, k), nearest_neighbours(y, k));
}

MutualKnnAccumulator::MutualKnnAccumulator(int64_t layers_a, int64_t layers_b, int64_t k)
    : NeighbourAccumulator(layers_a, layers_b, /*symmetric=*/true, 0, "mutual k-NN", std::max<int64_t>(3, k + 1), k) {}

}  // namespace convlab::knn
