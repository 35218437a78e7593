// The bootstrap over batches: quantiles as numpy computes them, the resampling distribution
// on a case small enough to work out by hand, seeds, and the errors.
#include <gtest/gtest.h>

#include <cmath>

#include "framework/core/error.h"
#include "framework/stats/bootstrap.h"

namespace convlab::stats {
namespace {

const Statistic kIdentity = [](const std::vector<double>& mean) { return mean; };

TEST(BatchTerms, WeightedMean) {
  BatchTerms t(2);
  t.add({1.0, 10.0}, 3.0);
  t.add({2.0, 20.0}, 1.0);
  const std::vector<double> m = t.weighted_mean();
  EXPECT_DOUBLE_EQ(m[0], 1.25);
  EXPECT_DOUBLE_EQ(m[1], 12.5);
  EXPECT_DOUBLE_EQ(t.weighted_mean({0, 2})[0], 2.0);
  EXPECT_THROW(t.add({1.0}, 1.0), Error);
  EXPECT_THROW(t.add({1.0, 1.0}, 0.0), Error);
  EXPECT_THROW(BatchTerms(1).weighted_mean(), Error);
}

TEST(Bootstrap, QuantilesInterpolateLikeNumpy) {
  std::vector<double> v = {4, 1, 3, 2};
  EXPECT_DOUBLE_EQ(quantile(v, 0.25), 1.75);  // numpy.quantile([1, 2, 3, 4], 0.25)
  EXPECT_DOUBLE_EQ(quantile(v, 0.975), 3.925);
  EXPECT_DOUBLE_EQ(quantile(v, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(quantile(v, 1.0), 4.0);
}

TEST(Bootstrap, TwoBatchesFollowTheResamplingDistribution) {
  // Two equal batches with values a and b: a replicate draws two of them with replacement,
  // so it is a, (a + b) / 2 or b with probabilities 1/4, 1/2, 1/4: mean (a + b) / 2 and
  // standard deviation |a - b| / (2 sqrt 2).
  BatchTerms t(1);
  t.add({0.6}, 100);
  t.add({1.0}, 100);
  const BootstrapSummary s = bootstrap_batches(t, kIdentity, 20000, 7);
  EXPECT_NEAR(s.mean[0], 0.8, 0.005);
  EXPECT_NEAR(s.std[0], 0.4 / (2 * std::sqrt(2.0)), 0.004);
  EXPECT_DOUBLE_EQ(s.q025[0], 0.6);
  EXPECT_DOUBLE_EQ(s.q975[0], 1.0);
  EXPECT_EQ(s.replicates, 20000);
}

TEST(Bootstrap, SeededAndReproducible) {
  BatchTerms t(3);
  for (int b = 0; b < 12; ++b) t.add({0.1 * b, std::sin(b), 1.0}, 10 + b);
  const BootstrapSummary a = bootstrap_batches(t, kIdentity, 200, 1);
  const BootstrapSummary again = bootstrap_batches(t, kIdentity, 200, 1);
  const BootstrapSummary other = bootstrap_batches(t, kIdentity, 200, 2);
  EXPECT_EQ(a.std, again.std);
  EXPECT_EQ(a.q025, again.q025);
  EXPECT_NE(a.std[0], other.std[0]);
  EXPECT_EQ(a.std[2], 0.0);  // the same value in every batch
  EXPECT_EQ(a.mean[2], 1.0);
  for (int c = 0; c < 3; ++c) EXPECT_LE(a.q025[c], a.q975[c]);
}

TEST(Bootstrap, UndefinedCellsAndErrors) {
  BatchTerms t(2);
  t.add({1.0, NAN}, 1);
  t.add({2.0, NAN}, 1);
  const BootstrapSummary s = bootstrap_batches(t, kIdentity, 50, 3);
  EXPECT_TRUE(std::isfinite(s.std[0]));
  EXPECT_TRUE(std::isnan(s.mean[1]) && std::isnan(s.std[1]));
  BatchTerms one(1);
  one.add({1.0}, 5);
  EXPECT_THROW(bootstrap_batches(one, kIdentity, 10, 0), Error);  // one batch: nothing to resample
  EXPECT_THROW(bootstrap_batches(t, kIdentity, 1, 0), Error);
}

}  // namespace
}  // namespace convlab::stats
