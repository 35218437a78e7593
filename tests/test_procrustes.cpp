// The orthogonal Procrustes distance against values computed here from the definition (the
// nuclear norm of the explicit X^T Y, by a Jacobi eigenvalue iteration written for this test,
// and the closed form for 2 x 2), both forms (features and Gram), the invariances it claims,
// minibatches, numerical range and constant features.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "framework/core/error.h"
#include "framework/linalg/symmetric_eigen.h"
#include "framework/procrustes/procrustes.h"
#include "tests/support/error_of.h"
#include "tests/support/dense_matrix.h"
#include "tests/support/scale_check.h"

namespace convlab::procrustes {
namespace {

using test_support::Matrix;
using test_support::random_normal;
using test_support::matmul;
using test_support::transpose;
using test_support::random_orthogonal;

// Y = ReLU(X W + 0.2) + noise.
Matrix related(const Matrix& x, int64_t n, int64_t p, int64_t q, uint64_t seed) {
  Matrix y = matmul(x, random_normal(p, q, seed), n, p, q);
  const Matrix noise = random_normal(n, q, seed + 1);
  for (size_t i = 0; i < y.size(); ++i) y[i] = std::max(0.0, y[i] + 0.2) + 0.3 * noise[i];
  return y;
}

// Column-centred, Frobenius-normalised copy.
Matrix normalised(const Matrix& x, int64_t n, int64_t p) {
  Matrix c(x);
  for (int64_t j = 0; j < p; ++j) {
    double mean = 0;
    for (int64_t i = 0; i < n; ++i) mean += x[i * p + j] / static_cast<double>(n);
    for (int64_t i = 0; i < n; ++i) c[i * p + j] -= mean;
  }
  double sq = 0;
  for (double v : c) sq += v * v;
  for (double& v : c) v /= std::sqrt(sq);
  return c;
}

// Eigenvalues of a symmetric matrix by cyclic Jacobi rotations (test reference only).
std::vector<double> jacobi_eigenvalues(Matrix a, int64_t n) {
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = i + 1; j < n; ++j) off += a[i * n + j] * a[i * n + j];
    if (off < 1e-30) break;
    for (int64_t p = 0; p < n; ++p)
      for (int64_t q = p + 1; q < n; ++q) {
        if (a[p * n + q] == 0.0) continue;
        const double theta = (a[q * n + q] - a[p * n + p]) / (2 * a[p * n + q]);
        const double t = (theta >= 0 ? 1 : -1) / (std::abs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (int64_t k = 0; k < n; ++k) {  // columns p, q
          const double akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (int64_t k = 0; k < n; ++k) {  // rows p, q
          const double apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
      }
  }
  std::vector<double> w(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) w[i] = a[i * n + i];
  return w;
}

// 2 - 2 ||X^T Y||_* with the nuclear norm from the eigenvalues of (X^T Y)^T (X^T Y). X^T Y
// has rank at most min(n - 1, p1, p2): eigenvalues at rounding level (below 1e-14 of the
// largest) are its structural zeros, whose square roots would add ~1e-8 of noise each.
double reference_distance(const Matrix& x, int64_t px, const Matrix& y, int64_t py, int64_t n) {
  const Matrix xn = normalised(x, n, px), yn = normalised(y, n, py);
  const Matrix a = matmul(transpose(xn, n, px), yn, px, n, py);  // (px, py)
  const Matrix ata = matmul(transpose(a, px, py), a, py, px, py);
  const std::vector<double> lambda = jacobi_eigenvalues(ata, py);
  const double largest = *std::max_element(lambda.begin(), lambda.end());
  double nuclear = 0;
  for (double l : lambda)
    if (l > 1e-14 * largest) nuclear += std::sqrt(l);
  return 2 - 2 * nuclear;
}

TEST(Procrustes, TwoByTwoMatchesTheClosedForm) {
  // For 2 x 2 A, sigma_1 + sigma_2 = sqrt(||A||_F^2 + 2 |det A|).
  const int64_t n = 6;
  const Matrix x = random_normal(n, 2, 1), y = random_normal(n, 2, 2);
  const Matrix xn = normalised(x, n, 2), yn = normalised(y, n, 2);
  const Matrix a = matmul(transpose(xn, n, 2), yn, 2, n, 2);
  const double frob = a[0] * a[0] + a[1] * a[1] + a[2] * a[2] + a[3] * a[3];
  const double det = a[0] * a[3] - a[1] * a[2];
  const double expected = 2 - 2 * std::sqrt(frob + 2 * std::abs(det));
  EXPECT_NEAR(procrustes_distance(cka::FeatureView(x, n, 2), cka::FeatureView(y, n, 2)), expected, 1e-13);
  EXPECT_NEAR(reference_distance(x, 2, y, 2, n), expected, 1e-13);  // the reference itself
}

TEST(Procrustes, SmallCasesMatchTheDefinitionInBothForms) {
  // (n, p1, p2): features below n, above n (the Gram form), and mixed.
  for (const auto& [n, px, py] : {std::tuple<int64_t, int64_t, int64_t>{8, 3, 5}, {5, 12, 9}, {10, 4, 15}, {20, 20, 3}}) {
    const Matrix x = random_normal(n, px, 10 + n);
    const Matrix y = related(x, n, px, py, 20 + n);
    const cka::FeatureView fx(x, n, px), fy(y, n, py);
    const double ref = reference_distance(x, px, y, py, n);
    EXPECT_GT(ref, 1e-3);
    EXPECT_NEAR(procrustes_distance(fx, fy), ref, 1e-10) << n << " " << px << " " << py;
    EXPECT_NEAR(procrustes_distance(fx, fy, Form::features), ref, 1e-10);
    EXPECT_NEAR(procrustes_distance(fx, fy, Form::gram), ref, 1e-10);
    const std::vector<float> xf(x.begin(), x.end()), yf(y.begin(), y.end());
    EXPECT_NEAR(procrustes_distance(cka::FeatureView(xf, n, px), cka::FeatureView(yf, n, py)), ref, 1e-5);
    EXPECT_NEAR(procrustes_distance(fx, fx), 0.0, 1e-12);
  }
  EXPECT_EQ(form_for(100, 100), Form::features);
  EXPECT_EQ(form_for(100, 101), Form::gram);
}

TEST(Procrustes, InvariantToOrthogonalMapsAndIsotropicScaling) {
  const int64_t n = 50, p = 8;
  const Matrix x = random_normal(n, p, 30);
  const Matrix y = related(x, n, p, p, 31);
  const Matrix q = random_orthogonal(p, 32);
  const Matrix rotated = matmul(y, q, n, p, p);
  Matrix scaled(y), shifted(y), stretched(y);
  for (double& v : scaled) v *= 0.037;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < p; ++j) {
      shifted[i * p + j] += 3.0 * j - 1.0;
      stretched[i * p + j] *= j == 0 ? 8.0 : 1.0;
    }
  for (const Form form : {Form::features, Form::gram}) {
    const cka::FeatureView fx(x, n, p);
    const double base = procrustes_distance(fx, cka::FeatureView(y, n, p), form);
    EXPECT_GT(base, 0.05);
    EXPECT_NEAR(procrustes_distance(fx, cka::FeatureView(rotated, n, p), form), base, 1e-10);
    EXPECT_NEAR(procrustes_distance(fx, cka::FeatureView(scaled, n, p), form), base, 1e-10);
    EXPECT_NEAR(procrustes_distance(fx, cka::FeatureView(shifted, n, p), form), base, 1e-10);
    EXPECT_GT(std::abs(procrustes_distance(fx, cka::FeatureView(stretched, n, p), form) - base), 1e-3);
    // A rotated copy of X itself is at distance 0.
    const Matrix xq = matmul(x, random_orthogonal(p, 33), n, p, p);
    EXPECT_NEAR(procrustes_distance(fx, cka::FeatureView(xq, n, p), form), 0.0, 1e-10);
  }
}

TEST(Procrustes, MinibatchesAverageThePerBatchDistancesWeightedBySize) {
  const int64_t n = 23, p = 4, q = 30;  // the second layer takes the Gram form in batches of 10
  const Matrix x = random_normal(n, p, 40);
  const Matrix y = related(x, n, p, q, 41);
  ProcrustesAccumulator acc(1, 1);
  double weighted = 0;
  for (const auto& [first, count] : {std::pair<int64_t, int64_t>{0, 10}, {10, 10}, {20, 3}}) {
    const Matrix xb(x.begin() + first * p, x.begin() + (first + count) * p);
    const Matrix yb(y.begin() + first * q, y.begin() + (first + count) * q);
    acc.add_batch({cka::FeatureView(xb, count, p)}, {cka::FeatureView(yb, count, q)});
    weighted += count * reference_distance(xb, p, yb, q, count);
  }
  EXPECT_NEAR(acc.result()[0], weighted / n, 1e-10);
  EXPECT_EQ(acc.forms()[0], Form::features);
  EXPECT_EQ(acc.forms()[1], Form::gram);
  // Self mode (each pair once, mirrored) equals cross mode with the same network.
  ProcrustesAccumulator self(2, 0), cross(2, 2);
  const std::vector<cka::FeatureView> layers{cka::FeatureView(x, n, p, "x"), cka::FeatureView(y, n, q, "y")};
  self.add_batch(layers);
  cross.add_batch(layers, layers);
  for (int e = 0; e < 4; ++e) EXPECT_NEAR(self.result()[e], cross.result()[e], 1e-10) << e;
  EXPECT_NEAR(self.result()[0], 0.0, 1e-12);
  EXPECT_NEAR(self.result()[1], self.result()[2], 1e-15);
}

TEST(Procrustes, FeaturesOfAnyScale) {
  const int64_t n = 12, p = 5, q = 20;
  const Matrix x = random_normal(n, p, 50);
  const Matrix y = related(x, n, p, q, 51);
  const auto distance = [](const cka::FeatureView& a, const cka::FeatureView& b) { return procrustes_distance(a, b); };
  test_support::expect_scale_free(distance, x, y, n, p, q, 1e-10);
}

TEST(Procrustes, ConstantFeaturesGiveNanAndAWarning) {
  const int64_t n = 6, p = 3;
  const Matrix y = random_normal(n, p, 60);
  const Matrix constant(static_cast<size_t>(n * p), 2.0);
  testing::internal::CaptureStderr();
  EXPECT_TRUE(std::isnan(procrustes_distance(cka::FeatureView(constant, n, p, "flat"), cka::FeatureView(y, n, p))));
  EXPECT_NE(testing::internal::GetCapturedStderr().find("'flat'"), std::string::npos);
  Matrix bad(y);
  bad[2] = INFINITY;
  EXPECT_THROW(procrustes_distance(cka::FeatureView(bad, n, p), cka::FeatureView(y, n, p)), Error);
}

// A NaN or infinity, in a feature-form layer (5 features, 12 examples) or a Gram-form one (40
// features: its Gram goes to LAPACK), is reported naming the layer's non-finite feature, never
// as an eigendecomposition failure, and the batch is not kept.
TEST(Procrustes, NonFiniteFeaturesAreNamedBeforeAnyEigendecomposition) {
  const int64_t n = 12;
  for (const int64_t p : {int64_t{5}, int64_t{40}}) {
    for (const double bad : {NAN, INFINITY}) {
      Matrix x = random_normal(n, p, 70), y = random_normal(n, 3, 71);
      x[static_cast<size_t>(4 * p + 2)] = bad;
      ProcrustesAccumulator acc(1, 1);
      const std::string error = test_support::error_of(
          [&] { acc.add_batch({cka::FeatureView(x, n, p, "conv2")}, {cka::FeatureView(y, n, 3, "fc")}); });
      EXPECT_NE(error.find("layer 'conv2' has a NaN or infinite feature (column 2 of 12 x"), std::string::npos)
          << error;
      EXPECT_EQ(error.find("LAPACK"), std::string::npos) << error;
      EXPECT_EQ(acc.batches(), 0);
    }
  }
}

// The largest batch (kMaxExamples) is one LAPACK's dsyevd takes with eigenvectors: its
// workspace query answers with sizes its integers hold. With 32-bit LAPACK integers the
// workspace of 1 + 6n + 2n^2 doubles overflows from n = 32,767 on, and the query says so.
TEST(Procrustes, LapackTakesTheLargestBatch) {
  EXPECT_TRUE(linalg::symmetric_eigen_fits(kMaxExamples));
  EXPECT_TRUE(linalg::symmetric_eigen_fits(1));
  EXPECT_FALSE(linalg::symmetric_eigen_fits(0));
  if (sizeof(lapack_int) == 4) {
    EXPECT_TRUE(linalg::symmetric_eigen_fits(32766));
    EXPECT_FALSE(linalg::symmetric_eigen_fits(32767));
    EXPECT_FALSE(linalg::symmetric_eigen_fits(46340));
  }
}

// A batch beyond kMaxExamples is refused before any work, naming the limit.
TEST(Procrustes, TheAccumulatorRefusesBatchesBeyondTheLargest) {
  const int64_t k = kMaxExamples + 1;
  const std::vector<float> x(static_cast<size_t>(k), 1.0f);  // (k, 1)
  ProcrustesAccumulator acc(1, 0);
  const std::string error = test_support::error_of([&] { acc.add_batch({cka::FeatureView(x.data(), k, 1)}); });
  EXPECT_NE(error.find(fmt::format("takes {} to {} examples per batch, got {}", kMinExamples, kMaxExamples, k)),
            std::string::npos)
      << error;
  EXPECT_EQ(acc.batches(), 0);
}

}  // namespace
}  // namespace convlab::procrustes
