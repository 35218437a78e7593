// The permutation test (stats/permutation_test.h, --permutations): the shuffles, the p-value
// and Holm's correction, and for every measure that its p-values are uniform when A and B are
// unrelated (a Kolmogorov-Smirnov check over many seeds on small data) and small when they
// are related.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "framework/analysis/compare.h"
#include "framework/stats/permutation_test.h"
#include "tests/support/dense_matrix.h"
#include "tests/support/vector_source.h"

namespace convlab {
namespace {

using test_support::Matrix;
using test_support::VectorSource;

TEST(PermutationTest, ShufflesArePermutationsFixedBySeedBatchAndIndex) {
  const std::vector<int32_t> p = stats::batch_permutation(7, 3, 11, 100);
  std::vector<int32_t> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  for (int32_t i = 0; i < 100; ++i) EXPECT_EQ(sorted[i], i);
  EXPECT_EQ(p, stats::batch_permutation(7, 3, 11, 100));
  EXPECT_NE(p, stats::batch_permutation(8, 3, 11, 100));
  EXPECT_NE(p, stats::batch_permutation(7, 4, 11, 100));
  EXPECT_NE(p, stats::batch_permutation(7, 3, 12, 100));
  const std::vector<int32_t> inverse = stats::inverse_permutation(p);
  for (int32_t i = 0; i < 100; ++i) EXPECT_EQ(inverse[p[i]], i);
  // Every position is as likely to receive every example: over 4000 shuffles of 5, each of the
  // 25 (position, example) counts is near 800 (binomial sd 25; 6 sd allowed).
  std::vector<int> counts(25, 0);
  for (int64_t r = 0; r < 4000; ++r) {
    const std::vector<int32_t> q = stats::batch_permutation(1, 0, r, 5);
    for (int i = 0; i < 5; ++i) ++counts[i * 5 + q[i]];
  }
  for (int c : counts) EXPECT_NEAR(c, 800, 150);
}

TEST(PermutationTest, PValuesWithThePlusOneCorrectionAndHolm) {
  // Observed 0.5; nulls 0.1, 0.6, 0.5, 0.2: two as similar or more, p = 3 / 5.
  const std::vector<std::vector<double>> null = {{0.1, 0.1}, {0.6, 0.1}, {0.5, 0.1}, {0.2, 0.1}};
  stats::PermutationSummary s = stats::summarise_permutations({0.5, 0.9}, null, false, 3);
  EXPECT_DOUBLE_EQ(s.p_value[0], 3.0 / 5.0);
  EXPECT_DOUBLE_EQ(s.p_value[1], 1.0 / 5.0);  // never 0
  EXPECT_DOUBLE_EQ(s.null_mean[0], 0.35);
  EXPECT_EQ(s.permutations, 4);
  EXPECT_EQ(s.seed, 3u);
  // A distance: smaller is more similar.
  s = stats::summarise_permutations({0.15, 0.9}, null, true, 3);
  EXPECT_DOUBLE_EQ(s.p_value[0], 2.0 / 5.0);
  EXPECT_DOUBLE_EQ(s.p_value[1], 1.0);
  // NaN anywhere in a cell: no p-value, not significant.
  s = stats::summarise_permutations({NAN, 0.9}, null, false, 0);
  EXPECT_TRUE(std::isnan(s.p_value[0]));
  EXPECT_FALSE(s.significant[0]);
  // Holm: sorted 0.01, 0.015, 0.03, 0.5 against 0.05/4, 0.05/3, 0.05/2, 0.05: the first two
  // pass (0.0125, 0.0167), the third (0.03 > 0.025) stops it.
  EXPECT_EQ(stats::holm_significant({0.5, 0.01, 0.03, 0.015}, 0.05), (std::vector<bool>{false, true, false, true}));
  EXPECT_EQ(stats::holm_significant({NAN, 0.04}, 0.05), (std::vector<bool>{false, true}));  // m counts defined ones
}

const std::vector<Measure> kEvery = {Measure::cka,   Measure::rsa,   Measure::procrustes, Measure::mutual_knn,
                                     Measure::cknna, Measure::svcca, Measure::pwcca,      Measure::ridge};

// One layer each for A and B, n examples: B unrelated to A, or A plus noise.
std::vector<SimilarityMatrix> test_once(uint64_t seed, bool related, int64_t permutations, int64_t n = 40) {
  const int64_t p = 6;
  const Matrix x = test_support::random_normal(n, p, 1000 + 2 * seed);
  Matrix y = test_support::random_normal(n, p, 1001 + 2 * seed);
  if (related)
    for (size_t i = 0; i < y.size(); ++i) y[i] = x[i] + 0.3 * y[i];
  VectorSource a("A"), b("B");
  a.add("x", x, n, p);
  b.add("y", y, n, p);
  CompareSettings s;
  s.measures = kEvery;
  s.kernels = {cka::Kernel::linear(), cka::Kernel::rbf(1.0)};
  s.batch_size = n / 2;
  s.knn = 5;
  s.permutations = permutations;
  s.seed = seed;
  return compare_layers(a, &b, s);
}

// The largest gap between the empirical CDF of `p` and the uniform CDF on [0, 1].
double ks_statistic(std::vector<double> p) {
  std::sort(p.begin(), p.end());
  const double n = static_cast<double>(p.size());
  double d = 0.0;
  for (size_t i = 0; i < p.size(); ++i)
    d = std::max({d, std::abs(static_cast<double>(i + 1) / n - p[i]), std::abs(p[i] - static_cast<double>(i) / n)});
  return d;
}

TEST(PermutationTest, PValuesAreUniformUnderTheNullForEveryMeasure) {
  // 120 independent draws of unrelated layers, 39 permutations each: each measure's p-values
  // take the values k / 40 with equal chance; the KS distance to the continuous uniform is
  // then at most the sampling error, 1.95 / sqrt(120) = 0.178 at the 0.001 level, plus the
  // 1 / 40 of the discreteness.
  constexpr int kDraws = 120;
  constexpr int64_t kPermutations = 39;
  std::vector<std::vector<double>> p_values(9);  // CKA's two kernels, then the other seven
  std::vector<std::string> names;
  for (int draw = 0; draw < kDraws; ++draw) {
    const std::vector<SimilarityMatrix> matrices = test_once(static_cast<uint64_t>(draw), false, kPermutations);
    ASSERT_EQ(matrices.size(), 9u);
    if (draw == 0)
      for (const SimilarityMatrix& m : matrices)
        names.push_back(std::string(measure_name(m.measure)) +
                        (m.measure == Measure::cka ? (m.options.kernel.kind == cka::KernelKind::linear ? " linear"
                                                                                                   : " rbf")
                                                   : ""));
    for (size_t m = 0; m < matrices.size(); ++m) {
      ASSERT_TRUE(matrices[m].permutation.has_value());
      p_values[m].push_back(matrices[m].permutation->p_value[0]);
    }
  }
  for (size_t m = 0; m < p_values.size(); ++m) {
    const double d = ks_statistic(p_values[m]);
    EXPECT_LT(d, 1.95 / std::sqrt(static_cast<double>(kDraws)) + 1.0 / (kPermutations + 1)) << names[m];
    const double mean = std::accumulate(p_values[m].begin(), p_values[m].end(), 0.0) / kDraws;
    EXPECT_NEAR(mean, 0.5 + 0.5 / (kPermutations + 1), 0.1) << names[m];
  }
}

TEST(PermutationTest, RelatedLayersGetTheSmallestPValue) {
  for (const SimilarityMatrix& m : test_once(5, true, 49)) {
    ASSERT_TRUE(m.permutation.has_value());
    EXPECT_DOUBLE_EQ(m.permutation->p_value[0], 1.0 / 50.0) << measure_name(m.measure);
    EXPECT_TRUE(m.permutation->significant[0]) << measure_name(m.measure);
    // The null lies below (Procrustes: above) the estimate.
    if (m.measure == Measure::procrustes)
      EXPECT_GT(m.permutation->null_q05[0], m.values[0]);
    else
      EXPECT_LT(m.permutation->null_q95[0], m.values[0]) << measure_name(m.measure);
  }
}

TEST(PermutationTest, ReproducibleFromTheSeedAndNullCentredForDebiasedCka) {
  const std::vector<SimilarityMatrix> first = test_once(3, false, 30, 60);
  const std::vector<SimilarityMatrix> again = test_once(3, false, 30, 60);
  for (size_t m = 0; m < first.size(); ++m) {
    EXPECT_EQ(first[m].permutation->p_value, again[m].permutation->p_value);
    EXPECT_EQ(first[m].permutation->null_mean, again[m].permutation->null_mean);
  }
  // Debiased CKA of unrelated layers is centred at 0, and so is its null.
  EXPECT_NEAR(first[0].permutation->null_mean[0], 0.0, 0.05);
}

TEST(PermutationTest, ANetworkAgainstItselfIsTestedCellByCell) {
  // Two unrelated layers and a noisy copy of the first: the diagonal and (0, 2) are
  // significant, (0, 1) and (1, 2) are not.
  const int64_t n = 60, p = 5;
  const Matrix x = test_support::random_normal(n, p, 1), z = test_support::random_normal(n, p, 2);
  Matrix copy = test_support::random_normal(n, p, 3);
  for (size_t i = 0; i < copy.size(); ++i) copy[i] = x[i] + 0.2 * copy[i];
  VectorSource a("A");
  a.add("x", x, n, p);
  a.add("z", z, n, p);
  a.add("x'", copy, n, p);
  CompareSettings s;
  s.measures = {Measure::cka, Measure::mutual_knn, Measure::ridge};
  s.batch_size = 30;
  s.knn = 5;
  s.permutations = 199;  // the smallest p-value, 1/200, must pass Holm's 0.05 / 9
  for (const SimilarityMatrix& m : compare_layers(a, nullptr, s)) {
    const std::vector<bool>& sig = m.permutation->significant;
    for (int64_t i = 0; i < 3; ++i) EXPECT_TRUE(sig[i * 3 + i]) << measure_name(m.measure) << " " << i;
    EXPECT_TRUE(sig[0 * 3 + 2]) << measure_name(m.measure);
    EXPECT_TRUE(sig[2 * 3 + 0]) << measure_name(m.measure);
    EXPECT_FALSE(sig[0 * 3 + 1]) << measure_name(m.measure);
    EXPECT_FALSE(sig[1 * 3 + 2]) << measure_name(m.measure);
  }
}

}  // namespace
}  // namespace convlab
