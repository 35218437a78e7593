#include "framework/rsa/rdm.h"

#include <algorithm>
#include <numeric>

#include "framework/cka/gram.h"
#include "framework/cka/parallel.h"
#include "framework/core/error.h"
#include "framework/rsa/row_centring.h"
#include "kernels/rsa.h"

namespace convlab::rsa {

int64_t rdm_upper(const double* gram, int64_t k, double* out) {
  int64_t constant = 0;
  for (int64_t i = 0; i < k; ++i) constant += gram[i * k + i] > 0.0 ? 0 : 1;
#pragma omp parallel for schedule(dynamic, 16) if (k * k >= cka::kParallelMin)
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = i + 1; j < k; ++j)
      out[kernels::upper_pair_index(i, j, k)] =
          kernels::correlation_distance(gram[i * k + j], gram[i * k + i], gram[j * k + j]);
  return constant;
}

void centred_ranks(const double* values, int64_t m, double* centred) {
  std::vector<int64_t> order(static_cast<size_t>(m));
  std::iota(order.begin(), order.end(), int64_t{0});
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return values[a] < values[b]; });
  // Runs of equal values share their average rank.
  for (int64_t first = 0; first < m;) {
    int64_t end = first + 1;
    while (end < m && values[order[end]] == values[order[first]]) ++end;
    const double rank = kernels::centred_rank(kernels::average_rank(first, end), m);
    for (int64_t s = first; s < end; ++s) centred[order[s]] = rank;
    first = end;
  }
}

int64_t rdm_ranks(const cka::FeatureView& x, double* out, RankWorkspace& w) {
  const int64_t k = x.rows();
  CONVLAB_CHECK(k >= 3, "RSA compares the distances between at least 3 examples, got {}", k);
  centre_rows(x, w.centred);
  w.gram.resize(static_cast<size_t>(k * k));
  cka::linear_gram(w.centred, w.gram.data());
  const int64_t m = kernels::upper_pair_count(k);
  w.distances.resize(static_cast<size_t>(m));
  const int64_t constant = rdm_upper(w.gram.data(), k, w.distances.data());
  centred_ranks(w.distances.data(), m, out);
  return constant;
}

}  // namespace convlab::rsa
