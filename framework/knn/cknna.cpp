#include "framework/knn/cknna.h"

#include <algorithm>
#include <cmath>

#include "framework/cka/cka.h"
#include "framework/core/error.h"
#include "kernels/knn.h"

namespace convlab::knn {

double cknna_alignment(const Neighbours& a, const Neighbours& b) {
  CONVLAB_CHECK(a.n == b.n && a.k == b.k, "CKNNA compares neighbours of the same examples: {} x {} against {} x {}",
                a.n, a.k, b.n, b.k);
  const int64_t n = a.n;
  CONVLAB_CHECK(n >= 4, "CKNNA's debiased HSIC needs at least 4 examples, got {}", n);
  // The masked kernels K~ = alpha o K and L~ = alpha o L are nonzero only at the shared
  // neighbours j of each i: row i's (j, K_ij, L_ij) triples.
  std::vector<int64_t> start(static_cast<size_t>(n + 1), 0);
  std::vector<int32_t> shared;
  std::vector<double> kv, lv;
  for (int64_t i = 0; i < n; ++i) {
    for_each_shared(a, b, i, [&](int64_t p, int64_t q) {
      shared.push_back(a.row(i)[p]);
      kv.push_back(a.row_similarity(i)[p]);
      lv.push_back(b.row_similarity(i)[q]);
    });
    start[static_cast<size_t>(i + 1)] = static_cast<int64_t>(shared.size());
  }
  // trace = sum_ij K~_ij L~_ji; the row sums of L~ and column sums of K~ give 1^T K~ L~ 1.
  double trace = 0.0, sum_k = 0.0, sum_l = 0.0;
  std::vector<double> column_k(static_cast<size_t>(n), 0.0), row_l(static_cast<size_t>(n), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t e = start[static_cast<size_t>(i)]; e < start[static_cast<size_t>(i + 1)]; ++e) {
      const int64_t j = shared[static_cast<size_t>(e)];
      sum_k += kv[static_cast<size_t>(e)];
      sum_l += lv[static_cast<size_t>(e)];
      column_k[static_cast<size_t>(j)] += kv[static_cast<size_t>(e)];
      row_l[static_cast<size_t>(i)] += lv[static_cast<size_t>(e)];
      // L~_ji: is i a shared neighbour of j?
      const auto first = shared.begin() + start[static_cast<size_t>(j)];
      const auto last = shared.begin() + start[static_cast<size_t>(j + 1)];
      const auto at = std::lower_bound(first, last, static_cast<int32_t>(i));
      if (at != last && *at == i) trace += kv[static_cast<size_t>(e)] * lv[static_cast<size_t>(at - shared.begin())];
    }
  double cross = 0.0;
  for (int64_t m = 0; m < n; ++m) cross += column_k[static_cast<size_t>(m)] * row_l[static_cast<size_t>(m)];
  return kernels::debiased_hsic_from_sums(trace, sum_k, sum_l, cross, n);
}

namespace {

double cknna_ratio(double cross, double self_a, double self_b) {
  if (!(self_a > 0.0) || !(self_b > 0.0)) return NAN;
  return cross / std::sqrt(self_a * self_b);
}

}  // namespace

double cknna(const cka::FeatureView& x, const cka::FeatureView& y, int64_t k) {
  cka::check_same_examples(x, y);
  const Neighbours a = nearest_neighbours(x, k), b = nearest_neighbours(y, k);
  return cknna_ratio(cknna_alignment(a, b), cknna_alignment(a, a), cknna_alignment(b, b));
}

CknnaAccumulator::CknnaAccumulator(int64_t layers_a, int64_t layers_b, int64_t k)
    : NeighbourAccumulator(layers_a, layers_b, /*symmetric=*/false, layers_b == 0 ? layers_a : layers_a + layers_b,
                           "CKNNA", std::max<int64_t>(k + 1, 4), k) {}

void CknnaAccumulator::extra_terms(double* out) const {
  for (size_t r = 0; r < rows().size(); ++r) out[r] = cknna_alignment(rows()[r], rows()[r]);
}

std::vector<double> CknnaAccumulator::value(const std::vector<double>& mean) const {
  const int64_t la = layers_a(), lb = layers_b(), self_at = la * lb;
  std::vector<double> out(static_cast<size_t>(la * lb));
  for (int64_t i = 0; i < la; ++i)
    for (int64_t j = 0; j < lb; ++j)
      out[static_cast<size_t>(i * lb + j)] =
          cknna_ratio(mean[static_cast<size_t>(i * lb + j)], mean[static_cast<size_t>(self_at + i)],
                      mean[static_cast<size_t>(self_at + pairs().row_of_b(j))]);
  return out;
}

}  // namespace convlab::knn
