#include "framework/stats/bootstrap.h"

#include <algorithm>
#include <cmath>

#include "framework/core/error.h"
#include "kernels/philox.h"

namespace convlab::stats {
namespace {

// The Philox stream of the batch draws: one block of draws per replicate.
constexpr uint32_t kBootstrapStream = 0xB0075u;

}  // namespace

double quantile(std::vector<double>& values, double q) {
  CONVLAB_CHECK(!values.empty(), "the quantile of no values");
  std::sort(values.begin(), values.end());
  const double position = q * static_cast<double>(values.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(position));
  const size_t above = std::min(below + 1, values.size() - 1);
  const double fraction = position - static_cast<double>(below);
  return values[below] + fraction * (values[above] - values[below]);
}

BootstrapSummary bootstrap_batches(const BatchTerms& terms, const Statistic& statistic, int64_t replicates,
                                   uint64_t seed) {
  const int64_t batches = terms.batches();
  CONVLAB_CHECK(batches >= 2,
                "the bootstrap resamples batches and needs at least 2, got {}: use a --batch-size smaller than the "
                "number of examples",
                batches);
  CONVLAB_CHECK(replicates >= 2, "the bootstrap needs at least 2 replicates, got {}", replicates);
  std::vector<std::vector<double>> draws;  // (replicates, cells)
  draws.reserve(static_cast<size_t>(replicates));
  std::vector<uint32_t> copies(static_cast<size_t>(batches));
  for (int64_t r = 0; r < replicates; ++r) {
    const RandomKey key{seed, kBootstrapStream, static_cast<uint32_t>(r)};
    std::fill(copies.begin(), copies.end(), 0u);
    for (int64_t s = 0; s < batches; ++s)
      ++copies[kernels::random_below(key, static_cast<uint64_t>(s), static_cast<uint32_t>(batches))];
    draws.push_back(statistic(terms.weighted_mean(copies)));
  }
  const size_t cells = draws.front().size();
  BootstrapSummary out;
  out.replicates = replicates;
  out.seed = seed;
  out.mean.assign(cells, NAN);
  out.std.assign(cells, NAN);
  out.q025.assign(cells, NAN);
  out.q975.assign(cells, NAN);
  std::vector<double> cell;
  for (size_t c = 0; c < cells; ++c) {
    cell.clear();
    for (const auto& d : draws)
      if (std::isfinite(d[c])) cell.push_back(d[c]);
    if (cell.empty()) continue;
    double mean = 0.0;
    for (double v : cell) mean += v;
    mean /= static_cast<double>(cell.size());
    double squares = 0.0;
    for (double v : cell) squares += (v - mean) * (v - mean);
    out.mean[c] = mean;
    out.std[c] = cell.size() > 1 ? std::sqrt(squares / static_cast<double>(cell.size() - 1)) : 0.0;
    out.q025[c] = quantile(cell, 0.025);
    out.q975[c] = quantile(cell, 0.975);
  }
  return out;
}

}  // namespace convlab::stats
