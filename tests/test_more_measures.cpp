// The float64 CPU measures added beside CKA, RSA and Procrustes: mutual k-NN and CKNNA (Huh et
// al. 2024), SVCCA and PWCCA, and linear predictivity (the leave-one-out R^2 of a ridge fit).
// Their per-element kernels, the k nearest neighbours (exact ties, order, errors), the
// invariances each claims, references written here from the definitions (a direct and a
// U-statistic debiased HSIC, a brute-force leave-one-out ridge), the minibatch skeleton they
// share (stats::PairAccumulator) and their wiring into compare_layers. The Python tests check
// the values against numpy ports of the published code; these check what those do not.
//
// Suites: KnnKernels, KnnNeighbours, KnnMutual, KnnCknna, CcaMeasures, RidgeMeasures,
// PairAccumulator, MoreMeasures.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "framework/analysis/compare.h"
#include "framework/analysis/feature_source.h"
#include "framework/analysis/measure_run.h"
#include "framework/cca/cca.h"
#include "framework/core/error.h"
#include "framework/core/tensor.h"
#include "framework/knn/cknna.h"
#include "framework/knn/mutual_knn.h"
#include "framework/knn/neighbours.h"
#include "framework/linalg/centred_spectrum.h"
#include "framework/ridge/ridge.h"
#include "kernels/cca.h"
#include "kernels/knn.h"
#include "kernels/ridge.h"
#include "tests/support/dense_matrix.h"
#include "tests/support/error_of.h"
#include "tests/support/scale_check.h"
#include "tests/support/vector_source.h"

namespace convlab {
namespace {

using cka::FeatureView;
using test_support::error_of;
using test_support::matmul;
using test_support::Matrix;
using test_support::random_normal;
using test_support::random_orthogonal;
using test_support::VectorSource;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Rows [first, first + count) of a (n, p) matrix.
Matrix rows_of(const Matrix& x, int64_t p, int64_t first, int64_t count) {
  return Matrix(x.begin() + first * p, x.begin() + (first + count) * p);
}

// Y = tanh(X W) + noise: related to X, not a linear map of it.
Matrix related(const Matrix& x, int64_t n, int64_t p, int64_t q, uint64_t seed, double noise = 0.3) {
  Matrix y = matmul(x, random_normal(p, q, seed), n, p, q);
  const Matrix e = random_normal(n, q, seed + 1);
  for (size_t i = 0; i < y.size(); ++i) y[i] = std::tanh(y[i]) + noise * e[i];
  return y;
}

// Gaussian features whose columns have variances falling from 1 to about 1e-4, so that a
// reduction to 99% of the variance leaves some directions out.
Matrix decaying(int64_t n, int64_t p, uint64_t seed) {
  Matrix x = random_normal(n, p, seed);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < p; ++j) x[static_cast<size_t>(i * p + j)] *= std::pow(0.45, static_cast<double>(j));
  return x;
}

// The cosine of every pair of examples, summed here in long double from the features.
std::vector<double> reference_cosines(const Matrix& x, int64_t n, int64_t p) {
  std::vector<double> c(static_cast<size_t>(n * n));
  std::vector<long double> norm(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    long double s = 0;
    for (int64_t f = 0; f < p; ++f) s += static_cast<long double>(x[i * p + f]) * x[i * p + f];
    norm[static_cast<size_t>(i)] = std::sqrt(s);
  }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      long double s = 0;
      for (int64_t f = 0; f < p; ++f) s += static_cast<long double>(x[i * p + f]) * x[j * p + f];
      const long double d = norm[static_cast<size_t>(i)] * norm[static_cast<size_t>(j)];
      c[static_cast<size_t>(i * n + j)] = d > 0 ? static_cast<double>(s / d) : 0.0;
    }
  return c;
}

// Row i's candidates j != i, nearest first (larger cosine, then lower index).
std::vector<int32_t> ranked(const std::vector<double>& cosine, int64_t n, int64_t i) {
  std::vector<int32_t> order;
  for (int64_t j = 0; j < n; ++j)
    if (j != i) order.push_back(static_cast<int32_t>(j));
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return cosine[static_cast<size_t>(i * n + a)] > cosine[static_cast<size_t>(i * n + b)];
  });
  return order;
}

// The smallest gap, over every row, between the k-th and (k+1)-th nearest cosines: where it
// is far above rounding (1e-15), rounding cannot change which examples are the k nearest.
double smallest_boundary_gap(const std::vector<double>& cosine, int64_t n, int64_t k) {
  double gap = INFINITY;
  for (int64_t i = 0; i < n; ++i) {
    const std::vector<int32_t> order = ranked(cosine, n, i);
    gap = std::min(gap, cosine[static_cast<size_t>(i * n + order[static_cast<size_t>(k - 1)])] -
                            cosine[static_cast<size_t>(i * n + order[static_cast<size_t>(k)])]);
  }
  return gap;
}

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

TEST(RidgeMeasures, ResidualFactorAndLeaveOneOutError) {
  EXPECT_EQ(kernels::ridge_residual_factor(0.0, 0.1), 1.0);  // a direction the source lacks: all left
  EXPECT_EQ(kernels::ridge_residual_factor(0.1, 0.1), 0.5);
  EXPECT_EQ(kernels::ridge_residual_factor(0.3, 0.1), 0.25);
  EXPECT_NEAR(kernels::ridge_residual_factor(1e6, 0.1), 1e-7, 1e-12);
  double last = 2.0;
  for (double lambda : {0.0, 1e-6, 1e-3, 0.1, 1.0, 10.0}) {  // falls as the eigenvalue grows
    const double f = kernels::ridge_residual_factor(lambda, 0.05);
    EXPECT_GT(f, 0.0);
    EXPECT_LE(f, 1.0);
    EXPECT_LT(f, last);
    last = f;
  }
  EXPECT_EQ(kernels::loo_squared_error(4.0, 0.5), 16.0);
  EXPECT_EQ(kernels::loo_squared_error(2.0, 1.0), 2.0);
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

// ---------------------------------------------------------------------------------------------
// SVCCA and PWCCA

TEST(CcaMeasures, SvccaIsOneForAnInvertibleMapWhenNothingIsCut) {
  const int64_t n = 40, p = 5;
  const Matrix x = random_normal(n, p, 51);
  Matrix a = random_normal(p, p, 52);
  for (int64_t j = 0; j < p; ++j) a[j * p + j] += 3.0;  // well conditioned, certainly invertible
  const Matrix xa = matmul(x, a, n, p, p);
  const cca::Reduction all{1.0};
  EXPECT_NEAR(cca::svcca(FeatureView(x, n, p), FeatureView(xa, n, p), all), 1.0, 1e-10);
  EXPECT_NEAR(cca::pwcca(FeatureView(x, n, p), FeatureView(xa, n, p), all), 1.0, 1e-10);
  EXPECT_NEAR(cca::pwcca(FeatureView(xa, n, p), FeatureView(x, n, p), all), 1.0, 1e-10);
  EXPECT_EQ(cca::subspace(FeatureView(xa, n, p), all).d, p);
  // Translation does not matter (centred); nor does a map into more features.
  Matrix wide = matmul(x, random_normal(p, 9, 53), n, p, 9);
  for (double& v : wide) v += 5.0;
  EXPECT_NEAR(cca::svcca(FeatureView(x, n, p), FeatureView(wide, n, 9), all), 1.0, 1e-10);
}

TEST(CcaMeasures, InvariantToOrthogonalMapsAndIsotropicScaling) {
  const int64_t n = 60, p = 12, q = 9;
  const Matrix x = decaying(n, p, 54), y = related(x, n, p, q, 55);
  Matrix moved = matmul(x, random_orthogonal(p, 56), n, p, p);
  for (double& v : moved) v = 3.7 * v - 1.25;
  const FeatureView xv(x, n, p), yv(y, n, q), mv(moved, n, p);
  EXPECT_LT(cca::subspace(xv, {}).d, p);  // 0.99 leaves some directions out
  EXPECT_EQ(cca::subspace(xv, {}).d, cca::subspace(mv, {}).d);
  const double s = cca::svcca(xv, yv), w = cca::pwcca(xv, yv), w_back = cca::pwcca(yv, xv);
  EXPECT_GT(s, 0.1);
  EXPECT_LT(s, 1.0);
  EXPECT_NEAR(cca::svcca(mv, yv), s, 1e-10);
  EXPECT_NEAR(cca::pwcca(mv, yv), w, 1e-10);
  EXPECT_NEAR(cca::pwcca(yv, mv), w_back, 1e-10);
  EXPECT_NEAR(cca::svcca(xv, mv), 1.0, 1e-10);
}

TEST(CcaMeasures, AFixedNumberOfDirectionsIsCappedAtTheRank) {
  const int64_t n = 30, p = 6;
  const Matrix x = random_normal(n, p, 57);
  // Rank 3 in 8 features.
  const Matrix low = matmul(random_normal(n, 3, 58), random_normal(3, 8, 59), n, 3, 8);
  for (const int64_t d : {1, 2, 4, 6, 10}) {
    cca::Reduction r;
    r.dims = d;
    const cca::Subspace full = cca::subspace(FeatureView(x, n, p), r), thin = cca::subspace(FeatureView(low, n, 8), r);
    EXPECT_EQ(full.d, std::min<int64_t>(d, p)) << d;
    EXPECT_EQ(thin.d, std::min<int64_t>(d, 3)) << d;
    // Its basis is orthonormal, its scales descending.
    for (int64_t a = 0; a < full.d; ++a) {
      if (a > 0) EXPECT_LE(full.scale[a], full.scale[a - 1]);
      for (int64_t b = 0; b < full.d; ++b) {
        double dot = 0;
        for (int64_t i = 0; i < n; ++i) dot += full.basis[i * full.d + a] * full.basis[i * full.d + b];
        EXPECT_NEAR(dot, a == b ? 1.0 : 0.0, 1e-12);
      }
    }
    const double v = cca::svcca(FeatureView(x, n, p), FeatureView(low, n, 8), r);
    EXPECT_TRUE(std::isfinite(v));
  }
  // By variance, 1 keeps the rank; the centred spectrum agrees.
  EXPECT_EQ(cca::subspace(FeatureView(low, n, 8), {1.0}).d, 3);
  EXPECT_EQ(linalg::centred_spectrum(FeatureView(low, n, 8)).rank, 3);
  // A share outside (0, 1] without dims is refused, naming the flag.
  for (const double bad : {0.0, -0.5, 1.5, static_cast<double>(NAN)}) {
    const std::string error = error_of([&] { cca::subspace(FeatureView(x, n, p), {bad}); });
    EXPECT_TRUE(contains(error, "--svcca-variance")) << bad << ": " << error;
    EXPECT_FALSE(error_of([&] { cca::CcaAccumulator(cca::CcaMeasure::svcca, 1, 0, {bad}); }).empty()) << bad;
  }
}

TEST(CcaMeasures, AConstantLayerGivesNaN) {
  const int64_t n = 10, p = 4;
  const Matrix x = random_normal(n, p, 61), flat(static_cast<size_t>(n * 3), 2.5);
  const FeatureView xv(x, n, p), fv(flat, n, 3);
  EXPECT_TRUE(cca::subspace(fv, {}).constant);
  EXPECT_EQ(cca::subspace(fv, {}).d, 0);
  EXPECT_TRUE(std::isnan(cca::svcca(xv, fv)));
  EXPECT_TRUE(std::isnan(cca::svcca(fv, xv)));
  EXPECT_TRUE(std::isnan(cca::pwcca(xv, fv)));
  EXPECT_TRUE(std::isnan(cca::pwcca(fv, xv)));
  EXPECT_TRUE(std::isnan(cca::svcca(fv, fv)));
}

TEST(CcaMeasures, ALayerWiderThanTheBatchWorks) {
  const int64_t n = 20, p = 50, q = 35;
  const Matrix x = random_normal(n, p, 62), y = related(x, n, p, q, 63, 1.0);
  const FeatureView xv(x, n, p), yv(y, n, q);
  EXPECT_EQ(linalg::centred_spectrum(xv).rank, n - 1);  // n centred examples span n - 1 directions
  const cca::Subspace s = cca::subspace(xv, {});
  EXPECT_GT(s.d, 1);
  EXPECT_LE(s.d, n - 1);
  EXPECT_NEAR(cca::svcca(xv, xv), 1.0, 1e-10);
  EXPECT_NEAR(cca::pwcca(xv, xv), 1.0, 1e-10);
  cca::Reduction few;
  few.dims = 4;
  for (const double v : {cca::svcca(xv, yv), cca::pwcca(xv, yv), cca::svcca(xv, yv, few), cca::pwcca(yv, xv, few)}) {
    EXPECT_TRUE(std::isfinite(v));
    EXPECT_GE(v, 0.0);
    EXPECT_LE(v, 1.0);
  }
}

TEST(CcaMeasures, PwccaWeightsArePositiveAndSumToOne) {
  const int64_t n = 50, p = 10, q = 6;
  const Matrix x = decaying(n, p, 64), y = related(x, n, p, q, 65);
  for (const auto& [a, b] :
       {std::pair{cca::subspace(FeatureView(x, n, p), {}), cca::subspace(FeatureView(y, n, q), {})},
        std::pair{cca::subspace(FeatureView(y, n, q), {}), cca::subspace(FeatureView(x, n, p), {})}}) {
    const cca::Correlations c = cca::canonical_correlations(a, b, true);
    ASSERT_EQ(c.rho.size(), static_cast<size_t>(std::min(a.d, b.d)));
    ASSERT_EQ(c.directions.size(), static_cast<size_t>(a.d) * c.rho.size());
    for (size_t i = 0; i < c.rho.size(); ++i) {
      EXPECT_GE(c.rho[i], 0.0);
      EXPECT_LE(c.rho[i], 1.0);
      if (i > 0) EXPECT_LE(c.rho[i], c.rho[i - 1]);  // descending
    }
    const std::vector<double> alpha = cca::pwcca_weights(a, c);
    ASSERT_EQ(alpha.size(), c.rho.size());
    double sum = 0, weighted = 0;
    for (size_t i = 0; i < alpha.size(); ++i) {
      EXPECT_GE(alpha[i], 0.0);
      sum += alpha[i];
      weighted += alpha[i] * c.rho[i];
    }
    EXPECT_NEAR(sum, 1.0, 1e-12);
    EXPECT_NEAR(cca::pwcca(a, b), weighted, 1e-14);
    // SVCCA is the plain mean of the same correlations; they need not have asked for directions.
    const cca::Correlations values = cca::canonical_correlations(a, b, false);
    EXPECT_TRUE(values.directions.empty());
    for (size_t i = 0; i < c.rho.size(); ++i) EXPECT_NEAR(values.rho[i], c.rho[i], 1e-12);
    EXPECT_NEAR(cca::svcca(a, b), std::accumulate(c.rho.begin(), c.rho.end(), 0.0) / c.rho.size(), 1e-12);
  }
}

TEST(CcaMeasures, PwccaIsOneWithItselfAndAsymmetricWhereSvccaIsNot) {
  const int64_t n = 60, p = 10, q = 7;
  const Matrix x = decaying(n, p, 66), y = related(x, n, p, q, 67);
  const FeatureView xv(x, n, p), yv(y, n, q);
  EXPECT_NEAR(cca::pwcca(xv, xv), 1.0, 1e-10);
  EXPECT_NEAR(cca::pwcca(yv, yv), 1.0, 1e-10);
  EXPECT_NEAR(cca::svcca(xv, yv), cca::svcca(yv, xv), 1e-12);
  EXPECT_GT(std::abs(cca::pwcca(xv, yv) - cca::pwcca(yv, xv)), 1e-4);
  EXPECT_TRUE(asymmetric(Measure::pwcca));
  EXPECT_FALSE(asymmetric(Measure::svcca));
}

TEST(CcaMeasures, AccumulatorRecordsTheDirectionsKeptInTheFirstBatch) {
  const int64_t n = 40, p = 10, q = 3;
  const Matrix x = decaying(n, p, 68), y = random_normal(n, q, 69), z = random_normal(n, 2 * p, 70);
  const std::vector<FeatureView> a{FeatureView(x, n, p, "x"), FeatureView(y, n, q, "y")};
  const std::vector<FeatureView> b{FeatureView(z, n, 2 * p, "z")};
  for (const cca::CcaMeasure measure : {cca::CcaMeasure::svcca, cca::CcaMeasure::pwcca}) {
    cca::CcaAccumulator acc(measure, 2, 1, {});
    EXPECT_TRUE(acc.dims().empty());
    acc.add_batch(a, b);
    const std::vector<int64_t> expected{cca::subspace(a[0], {}).d, cca::subspace(a[1], {}).d,
                                        cca::subspace(b[0], {}).d};
    EXPECT_EQ(acc.dims(), expected);
    // A second batch (of other examples, which keep other numbers) changes nothing there.
    Matrix x2 = random_normal(5, p, 71), y2 = random_normal(5, q, 72), z2 = random_normal(5, 2 * p, 73);
    acc.add_batch({FeatureView(x2, 5, p), FeatureView(y2, 5, q)}, {FeatureView(z2, 5, 2 * p)});
    EXPECT_EQ(acc.dims(), expected);
    cca::Reduction two;
    two.dims = 2;
    cca::CcaAccumulator fixed(measure, 2, 0, two);
    fixed.add_batch(a);
    EXPECT_EQ(fixed.dims(), (std::vector<int64_t>{2, 2}));
  }
}

TEST(CcaMeasures, FeaturesOfAnyScale) {
  const int64_t n = 30, p = 6, q = 5;
  const Matrix x = decaying(n, p, 74), y = related(x, n, p, q, 75);
  test_support::expect_scale_free([](const FeatureView& a, const FeatureView& b) { return cca::svcca(a, b); }, x, y, n,
                                  p, q, 1e-10);
  test_support::expect_scale_free([](const FeatureView& a, const FeatureView& b) { return cca::pwcca(a, b); }, x, y, n,
                                  p, q, 1e-10);
}

// ---------------------------------------------------------------------------------------------
// Linear predictivity

// Solves the symmetric positive definite a (m, m) x = b (m, c) by Cholesky, for references.
Matrix cholesky_solve(Matrix a, Matrix b, int64_t m, int64_t c) {
  for (int64_t j = 0; j < m; ++j) {  // a = L L^T, L in the lower triangle
    double d = a[j * m + j];
    for (int64_t t = 0; t < j; ++t) d -= a[j * m + t] * a[j * m + t];
    const double ljj = std::sqrt(d);
    a[j * m + j] = ljj;
    for (int64_t i = j + 1; i < m; ++i) {
      double s = a[i * m + j];
      for (int64_t t = 0; t < j; ++t) s -= a[i * m + t] * a[j * m + t];
      a[i * m + j] = s / ljj;
    }
  }
  for (int64_t col = 0; col < c; ++col) {
    for (int64_t i = 0; i < m; ++i) {  // L z = b
      double s = b[i * c + col];
      for (int64_t t = 0; t < i; ++t) s -= a[i * m + t] * b[t * c + col];
      b[i * c + col] = s / a[i * m + i];
    }
    for (int64_t i = m - 1; i >= 0; --i) {  // L^T x = z
      double s = b[i * c + col];
      for (int64_t t = i + 1; t < m; ++t) s -= a[t * m + i] * b[t * c + col];
      b[i * c + col] = s / a[i * m + i];
    }
  }
  return b;
}

Matrix centred(const Matrix& x, int64_t n, int64_t p) {
  Matrix c(x);
  for (int64_t j = 0; j < p; ++j) {
    double mean = 0;
    for (int64_t i = 0; i < n; ++i) mean += x[i * p + j];
    mean /= static_cast<double>(n);
    for (int64_t i = 0; i < n; ++i) c[i * p + j] -= mean;
  }
  return c;
}

// The definition in ridge.h, by brute force: both layers centred over the batch, penalty
// r = ridge tr(X_c X_c^T) / n, and each example predicted by the ridge fit (no intercept) to
// the other n - 1, in the primal form W = (X^T X + r I)^-1 X^T Y over those n - 1.
double brute_force_loo_r2(const Matrix& x, int64_t p, const Matrix& y, int64_t q, int64_t n, double ridge) {
  const Matrix xc = centred(x, n, p), yc = centred(y, n, q);
  double trace = 0, total = 0;
  for (double v : xc) trace += v * v;
  for (double v : yc) total += v * v;
  const double r = ridge * trace / static_cast<double>(n);
  double error = 0;
  for (int64_t out = 0; out < n; ++out) {
    Matrix a(static_cast<size_t>(p * p), 0.0), b(static_cast<size_t>(p * q), 0.0);
    for (int64_t i = 0; i < n; ++i) {
      if (i == out) continue;
      for (int64_t s = 0; s < p; ++s) {
        for (int64_t t = 0; t < p; ++t) a[s * p + t] += xc[i * p + s] * xc[i * p + t];
        for (int64_t t = 0; t < q; ++t) b[s * q + t] += xc[i * p + s] * yc[i * q + t];
      }
    }
    for (int64_t s = 0; s < p; ++s) a[s * p + s] += r;
    const Matrix w = cholesky_solve(a, b, p, q);
    for (int64_t t = 0; t < q; ++t) {
      double prediction = 0;
      for (int64_t s = 0; s < p; ++s) prediction += xc[out * p + s] * w[s * q + t];
      error += (yc[out * q + t] - prediction) * (yc[out * q + t] - prediction);
    }
  }
  return 1.0 - error / total;
}

TEST(RidgeMeasures, ClosedFormLeaveOneOutEqualsABruteForceLoop) {
  const int64_t n = 12, p = 3, q = 2;
  for (const uint64_t seed : {81, 83, 85}) {
    const Matrix x = random_normal(n, p, seed), y = related(x, n, p, q, seed + 1);
    for (const double ridge : {0.1, 0.01, 1.0, 7.5}) {
      const double expected = brute_force_loo_r2(x, p, y, q, n, ridge);
      EXPECT_NEAR(ridge::predictivity(FeatureView(x, n, p), FeatureView(y, n, q), ridge), expected, 1e-10)
          << seed << " " << ridge;
    }
  }
  // And a source wider than the batch, through the Gram (the primal system is 20 x 20 here).
  const int64_t wide = 20;
  const Matrix x = random_normal(n, wide, 87), y = related(x, n, wide, q, 88);
  EXPECT_NEAR(ridge::predictivity(FeatureView(x, n, wide), FeatureView(y, n, q), 0.1),
              brute_force_loo_r2(x, wide, y, q, n, 0.1), 1e-10);
  // The default penalty is 0.1.
  const Matrix s = random_normal(n, p, 89), t = related(s, n, p, q, 90);
  EXPECT_NEAR(ridge::predictivity(FeatureView(s, n, p), FeatureView(t, n, q)),
              ridge::predictivity(FeatureView(s, n, p), FeatureView(t, n, q), ridge::kDefaultPenalty), 1e-15);
  EXPECT_NEAR(ridge::predictivity(FeatureView(s, n, p), FeatureView(t, n, q)), brute_force_loo_r2(s, p, t, q, n, 0.1),
              1e-10);
}

TEST(RidgeMeasures, ALinearMapOfTheSourceIsPredictedAlmostPerfectly) {
  const int64_t n = 200, p = 4, q = 6;
  const Matrix x = random_normal(n, p, 91);
  Matrix a = random_normal(p, q, 92);
  Matrix y = matmul(x, a, n, p, q);
  for (double& v : y) v += 1.5;  // translation: centred away
  const double v = ridge::predictivity(FeatureView(x, n, p), FeatureView(y, n, q));
  EXPECT_GT(v, 0.99);
  EXPECT_LT(v, 1.0);
  // An invertible map of the source itself.
  Matrix square = random_normal(p, p, 93);
  for (int64_t j = 0; j < p; ++j) square[j * p + j] += 3.0;
  const Matrix xa = matmul(x, square, n, p, p);
  const double self = ridge::predictivity(FeatureView(x, n, p), FeatureView(xa, n, p));
  EXPECT_GT(self, 0.99);
  EXPECT_LT(self, 1.0);
  // A larger penalty shrinks more: a lower R^2.
  EXPECT_LT(ridge::predictivity(FeatureView(x, n, p), FeatureView(xa, n, p), 10.0), self);
  // Unrelated layers predict nothing held out: R^2 near or below 0.
  const Matrix z = random_normal(n, q, 94);
  EXPECT_LT(ridge::predictivity(FeatureView(x, n, p), FeatureView(z, n, q)), 0.05);
}

TEST(RidgeMeasures, AConstantSourceGivesZeroAndAConstantTargetNaN) {
  const int64_t n = 15, p = 4;
  const Matrix x = random_normal(n, p, 95), flat(static_cast<size_t>(n * 3), -0.75);
  const FeatureView xv(x, n, p), fv(flat, n, 3);
  EXPECT_NEAR(ridge::predictivity(fv, xv), 0.0, 1e-14);  // the mean predicts the centred target: R^2 0
  EXPECT_TRUE(std::isnan(ridge::predictivity(xv, fv)));
  EXPECT_TRUE(std::isnan(ridge::predictivity(fv, fv)));
  EXPECT_TRUE(ridge::target(fv).constant);
  const ridge::Predictor none = ridge::predictor(fv, 0.1);  // the identity
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) EXPECT_EQ(none.residual[i * n + j], i == j ? 1.0 : 0.0);
  // The penalty must be positive and finite, naming --ridge.
  for (const double bad : {0.0, -1.0, static_cast<double>(INFINITY), static_cast<double>(NAN)}) {
    EXPECT_TRUE(contains(error_of([&] { ridge::predictor(xv, bad); }), "--ridge")) << bad;
    EXPECT_TRUE(contains(error_of([&] { ridge::RidgeAccumulator(1, 0, bad); }), "--ridge")) << bad;
  }
}

TEST(RidgeMeasures, FeaturesOfAnyScale) {
  const int64_t n = 30, p = 5, q = 4;
  const Matrix x = random_normal(n, p, 96), y = related(x, n, p, q, 97);
  test_support::expect_scale_free([](const FeatureView& a, const FeatureView& b) { return ridge::predictivity(a, b); },
                                  x, y, n, p, q, 1e-10);
}

// ---------------------------------------------------------------------------------------------
// The minibatch skeleton (stats::PairAccumulator), through the measures

// Five layers of n examples for the accumulator tests: two related pairs and an unrelated one.
struct Layers {
  int64_t n = 0;
  std::vector<Matrix> values;
  std::vector<int64_t> widths;
  std::vector<std::string> names;
  std::vector<FeatureView> views(int64_t first, int64_t count, std::vector<Matrix>& parts) const {
    parts.clear();
    for (size_t l = 0; l < values.size(); ++l) parts.push_back(rows_of(values[l], widths[l], first, count));
    std::vector<FeatureView> out;
    for (size_t l = 0; l < values.size(); ++l) out.emplace_back(parts[l], count, widths[l], names[l]);
    return out;
  }
};

Layers some_layers(int64_t n, uint64_t seed) {
  Layers l;
  l.n = n;
  const Matrix a = decaying(n, 7, seed);
  l.values = {a, related(a, n, 7, 5, seed + 1), random_normal(n, 6, seed + 2)};
  l.widths = {7, 5, 6};
  l.names = {"conv1", "conv2", "fc"};
  return l;
}

// Every new measure's accumulator and its full-batch function.
struct MeasureCase {
  const char* name;
  std::function<std::unique_ptr<stats::PairAccumulator>(int64_t, int64_t)> make;
  std::function<double(const FeatureView&, const FeatureView&)> full;  // one batch, one pair
  bool symmetric;
};

std::vector<MeasureCase> measure_cases() {
  const int64_t k = 4;
  return {
      {"mutual k-NN", [=](int64_t a, int64_t b) { return std::make_unique<knn::MutualKnnAccumulator>(a, b, k); },
       [=](const FeatureView& x, const FeatureView& y) { return knn::mutual_knn(x, y, k); }, true},
      {"SVCCA",
       [](int64_t a, int64_t b) {
         return std::make_unique<cca::CcaAccumulator>(cca::CcaMeasure::svcca, a, b, cca::Reduction{});
       },
       [](const FeatureView& x, const FeatureView& y) { return cca::svcca(x, y); }, true},
      {"PWCCA",
       [](int64_t a, int64_t b) {
         return std::make_unique<cca::CcaAccumulator>(cca::CcaMeasure::pwcca, a, b, cca::Reduction{});
       },
       [](const FeatureView& x, const FeatureView& y) { return cca::pwcca(x, y); }, false},
      {"linear predictivity", [](int64_t a, int64_t b) { return std::make_unique<ridge::RidgeAccumulator>(a, b, 0.1); },
       [](const FeatureView& x, const FeatureView& y) { return ridge::predictivity(x, y, 0.1); }, false},
      // CKNNA's value is a ratio of mean terms (KnnCknna above); in one batch it is cknna().
      {"CKNNA", [=](int64_t a, int64_t b) { return std::make_unique<knn::CknnaAccumulator>(a, b, k); },
       [=](const FeatureView& x, const FeatureView& y) { return knn::cknna(x, y, k); }, false},
  };
}

TEST(PairAccumulator, ANetworkAgainstItselfEqualsTwoCopiesAndFillsBothTriangles) {
  const Layers l = some_layers(36, 101);
  std::vector<Matrix> parts;
  const std::vector<FeatureView> v = l.views(0, l.n, parts);
  for (const MeasureCase& c : measure_cases()) {
    SCOPED_TRACE(c.name);
    auto self = c.make(3, 0), two = c.make(3, 3);
    self->add_batch(v);
    two->add_batch(v, v);
    const std::vector<double> s = self->result(), t = two->result();
    ASSERT_EQ(s.size(), 9u);
    ASSERT_EQ(t.size(), 9u);
    EXPECT_EQ(self->pairs().rows(), 3);
    EXPECT_EQ(two->pairs().rows(), 6);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) {
        EXPECT_NEAR(s[i * 3 + j], t[i * 3 + j], 1e-12) << i << " " << j;
        // Both triangles hold m(layer i, layer j), each order computed where they differ.
        EXPECT_NEAR(s[i * 3 + j], c.full(v[i], v[j]), 1e-12) << i << " " << j;
      }
    if (!c.symmetric) EXPECT_GT(std::abs(s[0 * 3 + 1] - s[1 * 3 + 0]), 1e-6);
  }
}

TEST(PairAccumulator, BatchesCountInProportionToTheirSize) {
  const Layers l = some_layers(48, 103), m = some_layers(48, 107);
  const int64_t sizes[2] = {30, 18};
  for (const MeasureCase& c : measure_cases()) {
    if (std::string(c.name) == "CKNNA") continue;  // a ratio of mean terms, not a mean of values
    SCOPED_TRACE(c.name);
    auto acc = c.make(3, 3);
    std::vector<double> weighted(9, 0.0);
    int64_t first = 0;
    for (const int64_t count : sizes) {
      std::vector<Matrix> pa, pb;
      const std::vector<FeatureView> a = l.views(first, count, pa), b = m.views(first, count, pb);
      acc->add_batch(a, b);
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) weighted[i * 3 + j] += static_cast<double>(count) * c.full(a[i], b[j]);
      first += count;
    }
    EXPECT_EQ(acc->batches(), 2);
    EXPECT_EQ(acc->examples(), 48);
    const std::vector<double> r = acc->result();
    for (int e = 0; e < 9; ++e) EXPECT_NEAR(r[e], weighted[e] / 48.0, 1e-12) << e;
  }
}

TEST(PairAccumulator, BadBatchesAreRefusedWithAUsefulMessage) {
  const Layers l = some_layers(20, 109);
  std::vector<Matrix> parts;
  for (const MeasureCase& c : measure_cases()) {
    SCOPED_TRACE(c.name);
    // Below the minimum: 2 examples (CCA and ridge need 3; k-NN with k = 4 needs 5, CKNNA 5).
    auto acc = c.make(3, 0);
    std::string error = error_of([&] { acc->add_batch(l.views(0, 2, parts)); });
    EXPECT_TRUE(contains(error, c.name)) << error;
    EXPECT_TRUE(contains(error, "examples per batch, got 2")) << error;
    // Layers of different numbers of examples, named.
    std::vector<Matrix> pa, pb, pc;
    std::vector<FeatureView> mixed = l.views(0, 10, pa);
    const Matrix short_layer = rows_of(l.values[2], l.widths[2], 0, 9);
    mixed[2] = FeatureView(short_layer, 9, l.widths[2], "fc");
    error = error_of([&] { acc->add_batch(mixed); });
    EXPECT_TRUE(contains(error, "same examples")) << error;
    EXPECT_TRUE(contains(error, "layer 'conv1' has 10 rows")) << error;
    EXPECT_TRUE(contains(error, "layer 'fc' has 9")) << error;
    // NaN features, in either network: the layer named.
    Matrix bad = rows_of(l.values[1], l.widths[1], 0, 10);
    bad[7] = NAN;
    std::vector<FeatureView> with_nan = l.views(0, 10, pb);
    with_nan[1] = FeatureView(bad, 10, l.widths[1], "conv2");
    error = error_of([&] { acc->add_batch(with_nan); });
    EXPECT_TRUE(contains(error, "layer 'conv2'")) << error;
    EXPECT_TRUE(contains(error, "NaN")) << error;
    auto two = c.make(3, 3);
    const std::vector<FeatureView> good = l.views(0, 10, pc);
    error = error_of([&] { two->add_batch(good, with_nan); });
    EXPECT_TRUE(contains(error, "layer 'conv2'")) << error;
    // The wrong number of layers, and the wrong call for the mode.
    EXPECT_FALSE(error_of([&] { acc->add_batch(std::vector<FeatureView>(mixed.begin(), mixed.begin() + 2)); }).empty());
    EXPECT_FALSE(error_of([&] { acc->add_batch(good, good); }).empty());
    EXPECT_FALSE(error_of([&] { two->add_batch(good); }).empty());
    // None of it was counted; a good batch still is.
    EXPECT_EQ(acc->batches(), 0);
    EXPECT_EQ(two->batches(), 0);
    acc->add_batch(good);
    EXPECT_EQ(acc->batches(), 1);
    for (double v : acc->result()) EXPECT_TRUE(std::isfinite(v));
  }
  // The neighbour measures need more examples than neighbours.
  knn::MutualKnnAccumulator knn_acc(1, 0, 10);
  const std::string error = error_of([&] { knn_acc.add_batch({l.views(0, 10, parts)[0]}); });
  EXPECT_TRUE(contains(error, "mutual k-NN needs at least 11 examples per batch")) << error;
  EXPECT_TRUE(contains(error_of([] { knn::MutualKnnAccumulator(1, 0, 0); }), "--knn"));
  EXPECT_TRUE(contains(error_of([] { knn::CknnaAccumulator(1, 0, 0); }), "--knn"));
}

// ---------------------------------------------------------------------------------------------
// compare_layers

TEST(MoreMeasures, NamesRoundTripAndTheirProperties) {
  const Measure every[] = {Measure::cka,   Measure::rsa,   Measure::procrustes, Measure::mutual_knn,
                           Measure::cknna, Measure::svcca, Measure::pwcca,      Measure::ridge};
  const char* names[] = {"cka", "rsa", "procrustes", "mutual_knn", "cknna", "svcca", "pwcca", "ridge"};
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_STREQ(measure_name(every[i]), names[i]);
    ASSERT_TRUE(measure_named(names[i]).has_value()) << names[i];
    EXPECT_EQ(*measure_named(names[i]), every[i]);
    EXPECT_TRUE(contains(measure_names(), names[i]));
    const bool added = i >= 3;
    EXPECT_EQ(host_only(every[i]), added) << names[i];
  }
  EXPECT_FALSE(measure_named("bogus").has_value());
  EXPECT_FALSE(measure_named("").has_value());
  EXPECT_FALSE(measure_named("SVCCA").has_value());
  EXPECT_EQ(measure_names(), "cka, rsa, procrustes, mutual_knn, cknna, svcca, pwcca, ridge");
  for (const Measure m : {Measure::pwcca, Measure::ridge, Measure::cknna}) EXPECT_TRUE(asymmetric(m));
  for (const Measure m : {Measure::cka, Measure::rsa, Measure::procrustes, Measure::mutual_knn, Measure::svcca})
    EXPECT_FALSE(asymmetric(m));
  // The batch limits follow --knn.
  CompareSettings s;
  s.knn = 10;
  EXPECT_EQ(batch_limits(Measure::mutual_knn, s).minimum, 11);
  EXPECT_EQ(batch_limits(Measure::cknna, s).minimum, 11);
  s.knn = 1;
  EXPECT_EQ(batch_limits(Measure::mutual_knn, s).minimum, 3);
  EXPECT_EQ(batch_limits(Measure::cknna, s).minimum, 4);
  EXPECT_EQ(batch_limits(Measure::svcca, s).minimum, cca::kMinExamples);
  EXPECT_EQ(batch_limits(Measure::pwcca, s).maximum, cca::kMaxExamples);
  EXPECT_EQ(batch_limits(Measure::ridge, s).maximum, ridge::kMaxExamples);
}

TEST(MoreMeasures, CompareLayersGivesTheAccumulatorsMatricesInOrder) {
  const int64_t n = 50, batch = 25;
  const Layers l = some_layers(n, 111), m = some_layers(n, 113);
  VectorSource a("features A"), b("features B");
  for (size_t i = 0; i < 3; ++i) a.add(l.names[i], l.values[i], n, l.widths[i]);
  for (size_t i = 0; i < 2; ++i) b.add("b_" + m.names[i], m.values[i], n, m.widths[i]);
  CompareSettings s;
  s.measures = {Measure::ridge, Measure::mutual_knn, Measure::svcca, Measure::pwcca, Measure::cknna};
  s.batch_size = batch;
  s.knn = 4;
  s.svcca_variance = 0.95;
  s.ridge = 0.5;
  testing::internal::CaptureStderr();
  const std::vector<SimilarityMatrix> ms = compare_layers(a, &b, s);
  const std::vector<SimilarityMatrix> self = compare_layers(a, nullptr, s);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");  // no advised size to fall below
  ASSERT_EQ(ms.size(), s.measures.size());
  ASSERT_EQ(self.size(), s.measures.size());
  // The same batches through the accumulators.
  const cca::Reduction reduction{0.95};
  std::vector<std::unique_ptr<stats::PairAccumulator>> two, one;
  two.push_back(std::make_unique<ridge::RidgeAccumulator>(3, 2, 0.5));
  two.push_back(std::make_unique<knn::MutualKnnAccumulator>(3, 2, 4));
  two.push_back(std::make_unique<cca::CcaAccumulator>(cca::CcaMeasure::svcca, 3, 2, reduction));
  two.push_back(std::make_unique<cca::CcaAccumulator>(cca::CcaMeasure::pwcca, 3, 2, reduction));
  two.push_back(std::make_unique<knn::CknnaAccumulator>(3, 2, 4));
  one.push_back(std::make_unique<ridge::RidgeAccumulator>(3, 0, 0.5));
  one.push_back(std::make_unique<knn::MutualKnnAccumulator>(3, 0, 4));
  one.push_back(std::make_unique<cca::CcaAccumulator>(cca::CcaMeasure::svcca, 3, 0, reduction));
  one.push_back(std::make_unique<cca::CcaAccumulator>(cca::CcaMeasure::pwcca, 3, 0, reduction));
  one.push_back(std::make_unique<knn::CknnaAccumulator>(3, 0, 4));
  for (int64_t first = 0; first < n; first += batch) {
    std::vector<Matrix> pa, pb;
    const std::vector<FeatureView> va = l.views(first, batch, pa);
    std::vector<FeatureView> vb = m.views(first, batch, pb);
    vb.pop_back();
    for (auto& acc : two) acc->add_batch(va, vb);
    for (auto& acc : one) acc->add_batch(va);
  }
  const std::vector<std::vector<std::pair<std::string, double>>> parameters{
      {{"ridge", 0.5}}, {{"knn", 4.0}}, {{"svcca_variance", 0.95}}, {{"svcca_variance", 0.95}}, {{"knn", 4.0}}};
  for (size_t r = 0; r < s.measures.size(); ++r) {
    SCOPED_TRACE(measure_name(s.measures[r]));
    for (const auto& [mat, acc, cols] :
         {std::tuple{&ms[r], two[r].get(), int64_t{2}}, std::tuple{&self[r], one[r].get(), int64_t{3}}}) {
      EXPECT_EQ(mat->measure, s.measures[r]);
      EXPECT_EQ(mat->rows, 3);
      EXPECT_EQ(mat->cols, cols);
      EXPECT_EQ(mat->row_names, l.names);
      EXPECT_EQ(mat->col_names, cols == 2 ? (std::vector<std::string>{"b_conv1", "b_conv2"}) : l.names);
      EXPECT_EQ(mat->examples, n);
      EXPECT_EQ(mat->batches, 2);
      EXPECT_EQ(mat->precision, "cpu fp64");
      EXPECT_EQ(mat->parameters, parameters[r]);
      const std::vector<double> expected = acc->result();
      ASSERT_EQ(mat->values.size(), expected.size());
      for (size_t e = 0; e < expected.size(); ++e) EXPECT_NEAR(mat->values[e], expected[e], 1e-12) << e;
      const bool cca_measure = s.measures[r] == Measure::svcca || s.measures[r] == Measure::pwcca;
      if (cca_measure) {
        EXPECT_EQ(mat->kept_dims, dynamic_cast<const cca::CcaAccumulator*>(acc)->dims());
        EXPECT_EQ(mat->kept_dims.size(), cols == 2 ? 5u : 3u);
        for (const int64_t d : mat->kept_dims) EXPECT_GT(d, 0);
      } else {
        EXPECT_TRUE(mat->kept_dims.empty());
      }
    }
  }
  // A fixed number of directions is recorded as such, and kept where the rank allows.
  s.svcca_dims = 5;
  s.measures = {Measure::pwcca, Measure::svcca};
  const std::vector<SimilarityMatrix> fixed = compare_layers(a, &b, s);
  ASSERT_EQ(fixed.size(), 2u);
  for (const SimilarityMatrix& mat : fixed) {
    EXPECT_EQ(mat.parameters, (std::vector<std::pair<std::string, double>>{{"svcca_dims", 5.0}}));
    EXPECT_EQ(mat.kept_dims, (std::vector<int64_t>{5, 5, 5, 5, 5}));  // widths 7, 5, 6 | 7, 5
  }
  EXPECT_EQ(fixed[0].measure, Measure::pwcca);
  EXPECT_EQ(fixed[1].measure, Measure::svcca);
}

TEST(MoreMeasures, ABatchWithoutRoomForTheNeighboursNamesBatchSize) {
  const int64_t n = 40;
  const Matrix x = random_normal(n, 4, 121);
  VectorSource a("features A");
  a.add("x", x, n, 4);
  CompareSettings s;
  s.knn = 10;
  for (const auto& [measure, name] :
       {std::pair{Measure::mutual_knn, "mutual k-NN"}, std::pair{Measure::cknna, "CKNNA"}}) {
    SCOPED_TRACE(name);
    s.measures = {measure};
    s.batch_size = 10;  // knn + 1 = 11 needed
    const std::string direct = error_of([&] { analysis_detail::check_batch_size(n, s); });
    const std::string error = error_of([&] { compare_layers(a, nullptr, s); });
    EXPECT_TRUE(contains(error, direct)) << error;
    EXPECT_TRUE(contains(error, fmt::format("{} needs batches of at least 11 examples", name))) << error;
    EXPECT_TRUE(contains(error, "--knn")) << error;
    EXPECT_TRUE(contains(error, "raise --batch-size to 11 or more")) << error;
    // Fewer examples than that: one batch of all of them, whatever the batch size.
    s.batch_size = 1000;
    const std::string few = error_of([&] { analysis_detail::check_batch_size(8, s); });
    EXPECT_TRUE(contains(few, "only 8 examples are used")) << few;
    EXPECT_TRUE(contains(few, "--batch-size")) << few;
    // At knn + 1 it runs.
    s.batch_size = 11;
    EXPECT_EQ(error_of([&] { analysis_detail::check_batch_size(n, s); }), "");
    EXPECT_EQ(compare_layers(a, nullptr, s).front().batches, 3);  // 40 = 3 x 11 + 7: the 7 dropped
  }
  // The CCA and ridge measures need 3.
  s.measures = {Measure::svcca, Measure::pwcca, Measure::ridge};
  s.batch_size = 2;
  const std::string error = error_of([&] { compare_layers(a, nullptr, s); });
  EXPECT_TRUE(contains(error, "needs batches of at least 3 examples")) << error;
  EXPECT_TRUE(contains(error, "--batch-size")) << error;
  // And the settings themselves are checked.
  s.batch_size = 10;
  s.ridge = 0.0;
  EXPECT_TRUE(contains(error_of([&] { compare_layers(a, nullptr, s); }), "--ridge"));
  s.ridge = 0.1;
  s.svcca_variance = 1.5;
  EXPECT_TRUE(contains(error_of([&] { compare_layers(a, nullptr, s); }), "--svcca-variance"));
  s.svcca_variance = 0.99;
  s.knn = 0;
  s.measures = {Measure::mutual_knn};
  EXPECT_TRUE(contains(error_of([&] { compare_layers(a, nullptr, s); }), "--knn"));
}

TEST(MoreMeasures, NaNFeaturesInCompareLayersNameTheLayerAndTheSource) {
  const int64_t n = 20;
  Matrix x = random_normal(n, 4, 123);
  const Matrix y = random_normal(n, 3, 124);
  x[15 * 4 + 2] = NAN;  // example 15: the second batch
  VectorSource a("features A");
  a.add("good", y, n, 3);
  a.add("conv3", x, n, 4);
  for (const Measure m : {Measure::mutual_knn, Measure::cknna, Measure::svcca, Measure::pwcca, Measure::ridge}) {
    SCOPED_TRACE(measure_name(m));
    CompareSettings s;
    s.measures = {m};
    s.knn = 3;
    s.batch_size = 10;
    const std::string error = error_of([&] { compare_layers(a, nullptr, s); });
    EXPECT_TRUE(contains(error, "layer 'conv3'")) << error;
    EXPECT_TRUE(contains(error, "NaN")) << error;
    EXPECT_TRUE(contains(error, "features A")) << error;
  }
}

// The same features at any float64 scale, subnormal to 1e300, give the same values of every
// new measure through compare_layers (one power of two per layer brings them to order 1).
TEST(MoreMeasures, CompareLayersIsScaleFreeFromSubnormalTo1e300) {
  const int64_t n = 40, batch = 20;
  const Layers l = some_layers(n, 131);
  // No near-tie among the neighbours of a batch: rounding cannot move a neighbour set.
  for (int64_t first = 0; first < n; first += batch)
    for (size_t i = 0; i < 3; ++i) {
      const Matrix part = rows_of(l.values[i], l.widths[i], first, batch);
      ASSERT_GT(smallest_boundary_gap(reference_cosines(part, batch, l.widths[i]), batch, 4), 1e-9);
    }
  CompareSettings s;
  s.measures = {Measure::mutual_knn, Measure::cknna, Measure::svcca, Measure::pwcca, Measure::ridge};
  s.batch_size = batch;
  s.knn = 4;
  const auto run = [&](double scale_a, double scale_b) {
    VectorSource a("features A"), b("features B");
    for (size_t i = 0; i < 3; ++i) {
      Matrix xa(l.values[i]), xb(l.values[i]);
      for (double& v : xa) v *= scale_a;
      for (double& v : xb) v *= scale_b;
      a.add(l.names[i], xa, n, l.widths[i]);
      b.add(l.names[i], xb, n, l.widths[i]);
    }
    std::vector<std::vector<double>> out;
    for (const SimilarityMatrix& m : compare_layers(a, &b, s)) out.push_back(m.values);
    return out;
  };
  const std::vector<std::vector<double>> base = run(1.0, 1.0);
  for (size_t m = 0; m < base.size(); ++m)
    for (size_t e = 0; e < base[m].size(); ++e) ASSERT_TRUE(std::isfinite(base[m][e])) << m << " " << e;
  for (const double scale_a : {1e-310, 1e-160, 1.0, 1e160, 1e300})
    for (const double scale_b : {1e-310, 1e100, 1e300}) {
      SCOPED_TRACE(fmt::format("A at {}, B at {}", scale_a, scale_b));
      const std::vector<std::vector<double>> values = run(scale_a, scale_b);
      ASSERT_EQ(values.size(), base.size());
      for (size_t m = 0; m < base.size(); ++m)
        for (size_t e = 0; e < base[m].size(); ++e)
          EXPECT_NEAR(values[m][e], base[m][e], 1e-10) << measure_name(s.measures[m]) << " " << e;
    }
}

}  // namespace
}  // namespace convlab
