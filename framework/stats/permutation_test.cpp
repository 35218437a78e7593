#include "framework/stats/permutation_test.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "framework/core/error.h"
#include "framework/stats/bootstrap.h"
#include "kernels/philox.h"

namespace convlab::stats {
namespace {

// The Philox stream of the permutations (the bootstrap's is another).
constexpr uint32_t kPermutationStream = 0x9E3A7u;

}  // namespace

std::vector<int32_t> batch_permutation(uint64_t seed, int64_t batch, int64_t permutation, int64_t k) {
  CONVLAB_CHECK(k >= 1 && k <= INT32_MAX, "a permutation of {} examples", k);
  std::vector<int32_t> perm(static_cast<size_t>(k));
  std::iota(perm.begin(), perm.end(), 0);
  const RandomKey key{seed, kPermutationStream, static_cast<uint32_t>(permutation)};
  const uint64_t base = static_cast<uint64_t>(batch) << 32;
  for (int64_t i = k - 1; i > 0; --i) {
    const int64_t j = kernels::random_below(key, base + static_cast<uint64_t>(i), static_cast<uint32_t>(i + 1));
    std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(j)]);
  }
  return perm;
}

std::vector<int32_t> inverse_permutation(const std::vector<int32_t>& perm) {
  std::vector<int32_t> inverse(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inverse[static_cast<size_t>(perm[i])] = static_cast<int32_t>(i);
  return inverse;
}

std::vector<bool> holm_significant(const std::vector<double>& p, double alpha) {
  std::vector<size_t> order;
  for (size_t i = 0; i < p.size(); ++i)
    if (!std::isnan(p[i])) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
  std::vector<bool> out(p.size(), false);
  const size_t m = order.size();
  for (size_t r = 0; r < m; ++r) {
    if (!(p[order[r]] <= alpha / static_cast<double>(m - r))) break;
    out[order[r]] = true;
  }
  return out;
}

PermutationSummary summarise_permutations(const std::vector<double>& observed,
                                          const std::vector<std::vector<double>>& null, bool lower_is_similar,
                                          uint64_t seed, double alpha) {
  CONVLAB_CHECK(!null.empty(), "a permutation test needs at least one permutation");
  const size_t cells = observed.size();
  PermutationSummary s;
  s.permutations = static_cast<int64_t>(null.size());
  s.seed = seed;
  s.alpha = alpha;
  s.lower_is_similar = lower_is_similar;
  s.p_value.assign(cells, NAN);
  s.null_mean.assign(cells, NAN);
  s.null_q05.assign(cells, NAN);
  s.null_q95.assign(cells, NAN);
  std::vector<double> draws;
  for (size_t c = 0; c < cells; ++c) {
    draws.clear();
    bool undefined = std::isnan(observed[c]);
    for (const std::vector<double>& matrix : null) {
      CONVLAB_CHECK(matrix.size() == cells, "a permutation's matrix has {} cells, the estimate {}", matrix.size(),
                    cells);
      if (std::isnan(matrix[c])) undefined = true;
      draws.push_back(matrix[c]);
    }
    if (undefined) continue;
    int64_t as_similar = 0;
    double sum = 0.0;
    for (double v : draws) {
      as_similar += (lower_is_similar ? v <= observed[c] : v >= observed[c]) ? 1 : 0;
      sum += v;
    }
    s.p_value[c] = static_cast<double>(1 + as_similar) / static_cast<double>(1 + draws.size());
    s.null_mean[c] = sum / static_cast<double>(draws.size());
    s.null_q05[c] = quantile(draws, 0.05);
    s.null_q95[c] = quantile(draws, 0.95);
  }
  s.significant = holm_significant(s.p_value, alpha);
  return s;
}

}  // namespace convlab::stats
