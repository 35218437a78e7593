// The float64 CPU subspace and regression measures added beside CKA, RSA and Procrustes:
// SVCCA and PWCCA, and linear predictivity (the leave-one-out R^2 of a ridge fit). The
// invariances each claims, their edge cases (constant layers, layers wider than the batch, a
// fixed number of directions), and a reference written here from the definition (a
// brute-force leave-one-out ridge). The Python tests in apps/python/tests/test_more_measures.py
// check the values against numpy ports of the published code; these check what those do not.
//
// Suites: CcaMeasures, RidgeMeasures. Mutual k-NN and CKNNA: test_knn_measures.cpp; the
// accumulators and compare_layers: test_pair_measures.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "framework/analysis/compare.h"
#include "framework/cca/cca.h"
#include "framework/cka/features.h"
#include "framework/linalg/centred_spectrum.h"
#include "framework/ridge/ridge.h"
#include "kernels/ridge.h"
#include "tests/support/dense_matrix.h"
#include "tests/support/error_of.h"
#include "tests/support/measure_data.h"
#include "tests/support/scale_check.h"

namespace convlab {
namespace {

using cka::FeatureView;
using test_support::contains;
using test_support::decaying;
using test_support::error_of;
using test_support::matmul;
using test_support::Matrix;
using test_support::random_normal;
using test_support::random_orthogonal;
using test_support::related;

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

}  // namespace
}  // namespace convlab
