// The float64 CPU neighbour measures added beside CKA, RSA and Procrustes: mutual k-NN and
// CKNNA (Huh et al. 2024). Their per-element kernels (and SVCCA's correlation clamp), the k
// nearest neighbours (exact ties, order, errors), the invariances each claims, and references
// written here from the definitions (a direct and a U-statistic debiased HSIC). The Python
// tests in apps/python/tests/test_more_measures.py check the values against numpy ports of
// the published code; these check what those do not.
//
// Suites: KnnKernels, KnnNeighbours, KnnMutual, KnnCknna. SVCCA, PWCCA and linear
// predictivity: test_cca_ridge_measures.cpp; the accumulators and compare_layers:
// test_pair_measures.cpp.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "framework/cka/features.h"
#include "framework/knn/cknna.h"
#include "framework/knn/mutual_knn.h"
#include "framework/knn/neighbours.h"
#include "kernels/cca.h"
#include "kernels/knn.h"
#include "tests/support/dense_matrix.h"
#include "tests/support/error_of.h"
#include "tests/support/measure_data.h"

namespace convlab {
namespace {

using cka::FeatureView;
using test_support::contains;
using test_support::error_of;
using test_support::matmul;
using test_support::Matrix;
using test_support::random_normal;
using test_support::random_orthogonal;
using test_support::ranked;
using test_support::reference_cosines;
using test_support::related;
using test_support::rows_of;
using test_support::smallest_boundary_gap;

// ---------------------------------------------------------------------------------------------
// Per-element kernels

TEST(KnnKernels, CosineSimilarityOfAZeroExampleIsZero) {
  EXPECT_EQ(kernels::cosine_similarity(0.0, 0.0, 4.0), 0.0);
  EXPECT_EQ(kernels::cosine_similarity(0.0, 4.0, 0.0), 0.0);
  EXPECT_EQ(kernels::cosine_similarity(0.0, 0.0, 0.0), 0.0);  // a zero example against itself
  EXPECT_EQ(kernels::cosine_similarity(3.0, -0.0, 9.0), 0.0);
  EXPECT_EQ(kernels::cosine_similarity(NAN, NAN, 1.0), 0.0);  // no direction either
  // Otherwise the cosine: exact where the square root is.
  EXPECT_EQ(kernels::cosine_similarity(2.0, 4.0, 1.0), 1.0);
  EXPECT_EQ(kernels::cosine_similarity(-6.0, 4.0, 9.0), -1.0);
  EXPECT_EQ(kernels::cosine_similarity(3.0, 4.0, 9.0), 0.5);
}

TEST(KnnKernels, NearerNeighbourIsAStrictTotalOrderWithTiesToTheLowerIndex) {
  EXPECT_TRUE(kernels::nearer_neighbour(0.5, 7, 0.4, 1));  // the larger similarity first
  EXPECT_FALSE(kernels::nearer_neighbour(0.4, 1, 0.5, 7));
  EXPECT_TRUE(kernels::nearer_neighbour(0.5, 2, 0.5, 3));  // a tie: the lower index
  EXPECT_FALSE(kernels::nearer_neighbour(0.5, 3, 0.5, 2));
  EXPECT_TRUE(kernels::nearer_neighbour(0.0, 1, -0.0, 4));  // 0 and -0 are equal similarities
  EXPECT_FALSE(kernels::nearer_neighbour(-0.0, 4, 0.0, 1));
  // Every property of a strict total order, over candidates with many ties (distinct indices,
  // as a row's candidates are).
  const std::vector<double> s{0.5, -1.0, 0.5, 1.0, 0.0, 0.5, -0.0, 1.0, -1.0, 0.25};
  const int64_t m = static_cast<int64_t>(s.size());
  const auto lt = [&](int64_t a, int64_t b) { return kernels::nearer_neighbour(s[a], a, s[b], b); };
  for (int64_t a = 0; a < m; ++a) {
    EXPECT_FALSE(lt(a, a)) << a;  // irreflexive
    for (int64_t b = 0; b < m; ++b) {
      if (a != b) EXPECT_NE(lt(a, b), lt(b, a)) << a << " " << b;  // total and asymmetric
      for (int64_t c = 0; c < m; ++c)
        if (lt(a, b) && lt(b, c)) EXPECT_TRUE(lt(a, c)) << a << " " << b << " " << c;  // transitive
    }
  }
}

// Song et al. (2012), eq. 5, from the explicit product K L.
double direct_debiased_hsic(const Matrix& k, const Matrix& l, int64_t n) {
  const Matrix kl = matmul(k, l, n, n, n);
  double trace = 0, sum_k = 0, sum_l = 0, sum_kl = 0;
  for (int64_t i = 0; i < n; ++i) trace += kl[i * n + i];
  for (double v : k) sum_k += v;
  for (double v : l) sum_l += v;
  for (double v : kl) sum_kl += v;
  const double m = static_cast<double>(n);
  return (trace + sum_k * sum_l / ((m - 1) * (m - 2)) - 2 * sum_kl / (m - 2)) / (m * (m - 3));
}

// The same estimator as the U-statistic it is (Song et al., Theorem 2), for symmetric kernels:
// the means over distinct indices of k_ij l_ij, k_ij l_iq and k_ij l_qr.
double u_statistic_hsic(const Matrix& k, const Matrix& l, int64_t n) {
  double pairs = 0, triples = 0, quads = 0;
  double count2 = 0, count3 = 0, count4 = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      if (j == i) continue;
      pairs += k[i * n + j] * l[i * n + j];
      ++count2;
      for (int64_t q = 0; q < n; ++q) {
        if (q == i || q == j) continue;
        triples += k[i * n + j] * l[i * n + q];
        ++count3;
        for (int64_t r = 0; r < n; ++r) {
          if (r == i || r == j || r == q) continue;
          quads += k[i * n + j] * l[q * n + r];
          ++count4;
        }
      }
    }
  return pairs / count2 - 2 * triples / count3 + quads / count4;
}

TEST(KnnKernels, DebiasedHsicFromSumsEqualsTheDirectEstimator) {
  const int64_t n = 9;
  for (const bool symmetric : {false, true}) {
    Matrix k = random_normal(n, n, symmetric ? 3 : 1), l = random_normal(n, n, symmetric ? 4 : 2);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        if (i == j) k[i * n + j] = l[i * n + j] = 0.0;
        if (symmetric && j < i) {
          k[i * n + j] = k[j * n + i];
          l[i * n + j] = l[j * n + i];
        }
      }
    // The four sums as the header defines them: trace sum_ij K_ij L_ji, the sums of K and L,
    // and cross = sum_m (column sum m of K)(row sum m of L).
    double trace = 0, sum_k = 0, sum_l = 0, cross = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        trace += k[i * n + j] * l[j * n + i];
        sum_k += k[i * n + j];
        sum_l += l[i * n + j];
      }
    for (int64_t m = 0; m < n; ++m) {
      double column_k = 0, row_l = 0;
      for (int64_t i = 0; i < n; ++i) column_k += k[i * n + m];
      for (int64_t j = 0; j < n; ++j) row_l += l[m * n + j];
      cross += column_k * row_l;
    }
    const double from_sums = kernels::debiased_hsic_from_sums(trace, sum_k, sum_l, cross, n);
    EXPECT_NEAR(from_sums, direct_debiased_hsic(k, l, n), 1e-12) << symmetric;
    if (symmetric) EXPECT_NEAR(from_sums, u_statistic_hsic(k, l, n), 1e-12);
  }
}

TEST(KnnKernels, CanonicalCorrelationClampsRoundingExcursions) {
  EXPECT_EQ(kernels::canonical_correlation(-1e-17), 0.0);
  EXPECT_EQ(kernels::canonical_correlation(0.0), 0.0);
  EXPECT_EQ(kernels::canonical_correlation(-0.0), 0.0);
  EXPECT_EQ(kernels::canonical_correlation(NAN), 0.0);
  EXPECT_EQ(kernels::canonical_correlation(1.0), 1.0);
  EXPECT_EQ(kernels::canonical_correlation(1.0 + 4e-16), 1.0);
  EXPECT_EQ(kernels::canonical_correlation(1e300), 1.0);
  EXPECT_EQ(kernels::canonical_correlation(0.25), 0.5);  // the square root in between
  EXPECT_EQ(kernels::canonical_correlation(0.81), std::sqrt(0.81));
  // SVCCA's reduction: the leading directions reach the share when kept >= share * total.
  EXPECT_TRUE(kernels::variance_reached(0.99, 1.0, 0.99));
  EXPECT_FALSE(kernels::variance_reached(0.98, 1.0, 0.99));
  EXPECT_TRUE(kernels::variance_reached(2.0, 2.0, 1.0));
}

// ---------------------------------------------------------------------------------------------
// Nearest neighbours

// Integer features: every Gram entry, and every cosine below, is exact, so the ties are exact.
//   0 (1,2,0)  2, 6 duplicates of 0; 3 = 2 x 0        cos 1 among {0, 2, 3, 6}
//   1 (0,0,5)  4 duplicate of 1; 5 = (0,0,1)          cos 1 among {1, 4, 5}
//   7 (3,0,4)  cos 0.8 = 20/25 = 4/5 with 1, 4 and 5
const Matrix kTies{1, 2, 0, 0, 0, 5, 1, 2, 0, 2, 4, 0, 0, 0, 5, 0, 0, 1, 1, 2, 0, 3, 0, 4};

TEST(KnnNeighbours, ExactTiesGoToTheLowerIndex) {
  const int64_t n = 8, p = 3, k = 2;
  const knn::Neighbours nb = knn::nearest_neighbours(FeatureView(kTies, n, p, "ties"), k);
  ASSERT_EQ(nb.n, n);
  ASSERT_EQ(nb.k, k);
  const std::vector<std::vector<int32_t>> expected{{2, 3}, {4, 5}, {0, 3}, {0, 2}, {1, 5}, {1, 4}, {0, 2}, {1, 4}};
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_EQ(std::vector<int32_t>(nb.row(i), nb.row(i) + k), expected[static_cast<size_t>(i)]) << "row " << i;
    for (int64_t m = 0; m < k; ++m)
      EXPECT_EQ(nb.row_similarity(i)[m], i == 7 ? 0.8 : 1.0) << "row " << i << " neighbour " << m;
  }
  // The same from the Gram; and from the features in float32 (exact integers too).
  std::vector<double> gram(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t f = 0; f < p; ++f) gram[static_cast<size_t>(i * n + j)] += kTies[i * p + f] * kTies[j * p + f];
  const std::vector<float> f32(kTies.begin(), kTies.end());
  for (const knn::Neighbours& other :
       {knn::neighbours_from_gram(gram, n, k), knn::nearest_neighbours(FeatureView(f32, n, p), k)}) {
    EXPECT_EQ(other.index, nb.index);
    EXPECT_EQ(other.similarity, nb.similarity);
  }
  // With one more neighbour the ties are taken in index order too: 0's three are 2, 3, 6.
  const knn::Neighbours three = knn::nearest_neighbours(FeatureView(kTies, n, p), 3);
  EXPECT_EQ(std::vector<int32_t>(three.row(0), three.row(0) + 3), (std::vector<int32_t>{2, 3, 6}));
  EXPECT_EQ(std::vector<int32_t>(three.row(7), three.row(7) + 3), (std::vector<int32_t>{1, 4, 5}));
}

TEST(KnnNeighbours, RowsAreSortedByIndexAndMatchABruteForceSearch) {
  const int64_t n = 60, p = 7, k = 9;
  const Matrix x = random_normal(n, p, 11);
  const knn::Neighbours nb = knn::nearest_neighbours(FeatureView(x, n, p), k);
  const std::vector<double> cosine = reference_cosines(x, n, p);
  ASSERT_GT(smallest_boundary_gap(cosine, n, k), 1e-9);  // no near-tie: the sets are exact
  for (int64_t i = 0; i < n; ++i) {
    const int32_t* row = nb.row(i);
    for (int64_t m = 0; m < k; ++m) {
      EXPECT_NE(row[m], i) << "an example is not its own neighbour";
      EXPECT_GE(row[m], 0);
      EXPECT_LT(row[m], n);
      if (m > 0) EXPECT_LT(row[m - 1], row[m]) << "row " << i << " is not ascending";
      EXPECT_NEAR(nb.row_similarity(i)[m], cosine[static_cast<size_t>(i * n + row[m])], 1e-14);
    }
    std::vector<int32_t> expected = ranked(cosine, n, i);
    expected.resize(static_cast<size_t>(k));
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(std::vector<int32_t>(row, row + k), expected) << "row " << i;
  }
}

TEST(KnnNeighbours, PositionFindsANeighbourOrSaysMinusOne) {
  const int64_t n = 20, p = 4, k = 5;
  const Matrix x = random_normal(n, p, 12);
  const knn::Neighbours nb = knn::nearest_neighbours(FeatureView(x, n, p), k);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t m = 0; m < k; ++m) EXPECT_EQ(nb.position(i, nb.row(i)[m]), m);
    EXPECT_EQ(nb.position(i, i), -1);
    int64_t found = 0;
    for (int64_t j = 0; j < n; ++j) {
      const int64_t at = nb.position(i, j);
      if (at < 0) continue;
      ++found;
      EXPECT_EQ(nb.row(i)[at], j);
    }
    EXPECT_EQ(found, k);
    EXPECT_EQ(nb.position(i, n + 3), -1);
    EXPECT_EQ(nb.position(i, -1), -1);
  }
}

TEST(KnnNeighbours, AZeroExampleIsNoOnesNearerNeighbourThanCosineZero) {
  const int64_t n = 12, p = 3, k = 3, zero = 5;
  Matrix x = random_normal(n, p, 13);
  for (int64_t f = 0; f < p; ++f) x[zero * p + f] = 0.0;
  const knn::Neighbours nb = knn::nearest_neighbours(FeatureView(x, n, p), k);
  // Its similarity to every example is 0: its neighbours are the lowest other indices.
  EXPECT_EQ(std::vector<int32_t>(nb.row(zero), nb.row(zero) + k), (std::vector<int32_t>{0, 1, 2}));
  for (int64_t m = 0; m < k; ++m) EXPECT_EQ(nb.row_similarity(zero)[m], 0.0);
  // To the others it is at cosine 0: a neighbour exactly where fewer than k others are positive.
  const std::vector<double> cosine = reference_cosines(x, n, p);
  for (int64_t i = 0; i < n; ++i) {
    if (i == zero) continue;
    int64_t positive = 0;
    for (int64_t j = 0; j < n; ++j) positive += j != i && cosine[static_cast<size_t>(i * n + j)] > 0.0;
    const int64_t at = nb.position(i, zero);
    EXPECT_EQ(at >= 0, positive < k) << "row " << i;
    if (at >= 0) EXPECT_EQ(nb.row_similarity(i)[at], 0.0);
  }
  // Mutual k-NN and CKNNA take it.
  EXPECT_EQ(knn::mutual_knn(FeatureView(x, n, p), FeatureView(x, n, p), k), 1.0);
  EXPECT_TRUE(std::isfinite(knn::cknna(FeatureView(x, n, p), FeatureView(x, n, p), k)));
}

TEST(KnnNeighbours, KOutsideOneToNMinusOneIsAnErrorNamingNeighbours) {
  const int64_t n = 6, p = 2;
  const Matrix x = random_normal(n, p, 14);
  for (const int64_t k : {int64_t{0}, n, n + 4}) {
    const std::string error = error_of([&] { knn::nearest_neighbours(FeatureView(x, n, p), k); });
    EXPECT_TRUE(contains(error, "neighbours")) << error;
    EXPECT_TRUE(contains(error, fmt::format("got {}", n))) << error;
    std::vector<double> gram(static_cast<size_t>(n * n), 1.0);
    EXPECT_TRUE(contains(error_of([&] { knn::neighbours_from_gram(gram, n, k); }), "neighbours")) << k;
  }
  EXPECT_EQ(knn::nearest_neighbours(FeatureView(x, n, p), n - 1).k, n - 1);  // every other example
  // A Gram of the wrong size.
  EXPECT_FALSE(error_of([&] { knn::neighbours_from_gram(std::vector<double>(10, 1.0), n, 2); }).empty());
  // NaN and infinite features name the layer.
  Matrix bad(x);
  bad[3] = NAN;
  std::string error = error_of([&] { knn::nearest_neighbours(FeatureView(bad, n, p, "conv3"), 2); });
  EXPECT_TRUE(contains(error, "layer 'conv3'")) << error;
  EXPECT_TRUE(contains(error, "NaN")) << error;
  bad[3] = -INFINITY;
  error = error_of([&] { knn::nearest_neighbours(FeatureView(bad, n, p, "conv3"), 2); });
  EXPECT_TRUE(contains(error, "layer 'conv3'")) << error;
  EXPECT_TRUE(contains(error, "infinite")) << error;
}

// ---------------------------------------------------------------------------------------------
// Mutual k-NN

// Exact equality below: the cosines of X, X Q and diag(c) X agree to rounding (1e-16), and
// every row's k-th and (k+1)-th nearest cosines are more than 1e-9 apart (checked), so the
// neighbour sets, and the value, are the same.
TEST(KnnMutual, OneForTheSameOrderOfNeighbourhoods) {
  const int64_t n = 80, p = 10, k = 6;
  const Matrix x = random_normal(n, p, 21);
  ASSERT_GT(smallest_boundary_gap(reference_cosines(x, n, p), n, k), 1e-9);
  const FeatureView xv(x, n, p);
  EXPECT_EQ(knn::mutual_knn(xv, xv, k), 1.0);
  const Matrix rotated = matmul(x, random_orthogonal(p, 22), n, p, p);
  EXPECT_EQ(knn::mutual_knn(xv, FeatureView(rotated, n, p), k), 1.0);
  Matrix scaled(x);
  std::mt19937_64 rng(23);
  std::uniform_real_distribution<double> log_scale(-3.0, 3.0);
  for (int64_t i = 0; i < n; ++i) {
    const double c = std::exp(log_scale(rng));  // positive, per example
    for (int64_t f = 0; f < p; ++f) scaled[i * p + f] *= c;
  }
  EXPECT_EQ(knn::mutual_knn(xv, FeatureView(scaled, n, p), k), 1.0);
  EXPECT_EQ(knn::mutual_knn(FeatureView(rotated, n, p), FeatureView(scaled, n, p), k), 1.0);
  // A wider layer holding x and a copy of it has the same cosines.
  Matrix doubled(static_cast<size_t>(n * 2 * p));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t f = 0; f < p; ++f) doubled[i * 2 * p + f] = doubled[i * 2 * p + p + f] = x[i * p + f];
  EXPECT_EQ(knn::mutual_knn(xv, FeatureView(doubled, n, 2 * p), k), 1.0);
  // Not invariant to translation (the features are not centred).
  Matrix shifted(x);
  for (double& v : shifted) v += 2.0;
  EXPECT_LT(knn::mutual_knn(xv, FeatureView(shifted, n, p), k), 0.9);
}

TEST(KnnMutual, UnrelatedLayersShareAboutKOverNMinusOne) {
  const int64_t n = 200, p = 16, k = 10, pairs = 6;
  double sum = 0;
  for (int64_t t = 0; t < pairs; ++t) {
    const Matrix x = random_normal(n, p, 100 + 2 * t), y = random_normal(n, p, 101 + 2 * t);
    const double v = knn::mutual_knn(FeatureView(x, n, p), FeatureView(y, n, p), k);
    EXPECT_GE(v, 0.0);
    EXPECT_LT(v, 0.15);
    sum += v;
  }
  // A mean over 6 pairs of a mean over 200 examples: its standard error is about 0.002.
  EXPECT_NEAR(sum / pairs, static_cast<double>(k) / (n - 1), 0.015);
}

TEST(KnnMutual, ValueCountsSharedNeighboursOverNK) {
  // Neighbours given directly: rows of 2 over 4 examples.
  knn::Neighbours a, b;
  a.n = b.n = 4;
  a.k = b.k = 2;
  a.index = {1, 2, 0, 3, 0, 1, 1, 2};
  b.index = {1, 3, 2, 3, 0, 1, 0, 2};
  a.similarity = b.similarity = std::vector<double>(8, 0.5);
  // Shared: row 0 {1}, row 1 {3}, row 2 {0, 1}, row 3 {2}: 5 of 8.
  EXPECT_EQ(knn::mutual_knn(a, b), 5.0 / 8.0);
  EXPECT_EQ(knn::mutual_knn(b, a), 5.0 / 8.0);
  knn::Neighbours c = a;
  c.k = 1;
  EXPECT_FALSE(error_of([&] { knn::mutual_knn(a, c); }).empty());
  // Layers of different examples.
  const Matrix x = random_normal(10, 2, 24), y = random_normal(9, 2, 25);
  EXPECT_FALSE(error_of([&] { knn::mutual_knn(FeatureView(x, 10, 2), FeatureView(y, 9, 2), 3); }).empty());
}

// ---------------------------------------------------------------------------------------------
// CKNNA

TEST(KnnCknna, OneForALayerWithItself) {
  for (const auto& [n, p, k] : {std::tuple<int64_t, int64_t, int64_t>{40, 6, 5}, {30, 50, 10}, {12, 3, 1}}) {
    const Matrix x = random_normal(n, p, 31 + n);
    const FeatureView xv(x, n, p);
    EXPECT_NEAR(knn::cknna(xv, xv, k), 1.0, 1e-12) << n << " " << p << " " << k;
    // And with an orthogonal map of itself, whose neighbours and cosines are the same.
    const Matrix rotated = matmul(x, random_orthogonal(p, 32 + n), n, p, p);
    ASSERT_GT(smallest_boundary_gap(reference_cosines(x, n, p), n, k), 1e-9);
    EXPECT_NEAR(knn::cknna(xv, FeatureView(rotated, n, p), k), 1.0, 1e-12);
  }
  // Its debiased HSIC needs 4 examples.
  const Matrix x = random_normal(3, 2, 33);
  EXPECT_TRUE(contains(error_of([&] { knn::cknna(FeatureView(x, 3, 2), FeatureView(x, 3, 2), 1); }), "4"));
}

TEST(KnnCknna, AccumulatorTakesTheRatioOfMeanTermsOverBatches) {
  const int64_t p = 6, q = 4, r = 8, k = 4;
  const int64_t sizes[2] = {30, 18};
  const int64_t n = sizes[0] + sizes[1];
  const Matrix x = random_normal(n, p, 41), y = related(x, n, p, q, 42), z = random_normal(n, r, 43);
  const int64_t widths[3] = {p, q, r};
  const Matrix* layers[3] = {&x, &y, &z};
  knn::CknnaAccumulator acc(3, 0, k);
  // By hand: every Align term's mean over the batches, weighted by size, then the ratio.
  std::vector<double> cross(9, 0.0), self(3, 0.0);
  int64_t first = 0;
  for (const int64_t count : sizes) {
    std::vector<Matrix> parts;
    std::vector<FeatureView> views;
    for (int l = 0; l < 3; ++l) parts.push_back(rows_of(*layers[l], widths[l], first, count));
    for (int l = 0; l < 3; ++l) views.emplace_back(parts[static_cast<size_t>(l)], count, widths[l]);
    acc.add_batch(views);
    std::vector<knn::Neighbours> nb;
    for (const FeatureView& v : views) nb.push_back(knn::nearest_neighbours(v, k));
    for (int i = 0; i < 3; ++i) {
      self[i] += static_cast<double>(count) * knn::cknna_alignment(nb[i], nb[i]);
      for (int j = 0; j < 3; ++j) cross[i * 3 + j] += static_cast<double>(count) * knn::cknna_alignment(nb[i], nb[j]);
    }
    first += count;
  }
  EXPECT_EQ(acc.batches(), 2);
  EXPECT_EQ(acc.examples(), n);
  EXPECT_EQ(acc.terms().weighted_mean().size(), 9u + 3u);  // the pairs, then a self term per layer
  const std::vector<double> v = acc.result();
  ASSERT_EQ(v.size(), 9u);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      const double expected = (cross[i * 3 + j] / n) / std::sqrt((self[i] / n) * (self[j] / n));
      EXPECT_NEAR(v[i * 3 + j], expected, 1e-12) << i << " " << j;
      if (i == j) EXPECT_NEAR(v[i * 3 + j], 1.0, 1e-12);
    }
  // Not the mean of the per-batch ratios (which a batch-weighted mean of cknna() would be).
  double mean_of_ratios = 0;
  first = 0;
  for (const int64_t count : sizes) {
    const Matrix xa = rows_of(x, p, first, count), ya = rows_of(y, q, first, count);
    mean_of_ratios += static_cast<double>(count) * knn::cknna(FeatureView(xa, count, p), FeatureView(ya, count, q), k);
    first += count;
  }
  EXPECT_GT(std::abs(v[1] - mean_of_ratios / n), 1e-9);
}

// The mask of the neighbours both layers share is the same either way round, but the cross
// term 1^T K~ L~ 1 of the debiased HSIC is not symmetric in K~ and L~ when the mask is not:
// CKNNA(A, B) and CKNNA(B, A) differ, by far more than rounding (here about 1e-3, as in the
// published code), and the accumulator computes both orders.
TEST(KnnCknna, BothOrdersAreComputed) {
  const int64_t n = 50, p = 8, q = 5, k = 6;
  const Matrix x = random_normal(n, p, 44), y = related(x, n, p, q, 45);
  const FeatureView xv(x, n, p), yv(y, n, q);
  const double ab = knn::cknna(xv, yv, k), ba = knn::cknna(yv, xv, k);
  EXPECT_TRUE(std::isfinite(ab));
  EXPECT_TRUE(std::isfinite(ba));
  EXPECT_LE(std::abs(ab), 1.0 + 1e-12);
  EXPECT_GT(std::abs(ab - ba), 1e-9);
  knn::CknnaAccumulator acc(2, 0, k);
  acc.add_batch({xv, yv});
  const std::vector<double> v = acc.result();
  EXPECT_NEAR(v[1], ab, 1e-12);
  EXPECT_NEAR(v[2], ba, 1e-12);
}

}  // namespace
}  // namespace convlab
