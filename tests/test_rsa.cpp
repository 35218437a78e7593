// RSA: the RDM and the Spearman correlation of two RDMs against values computed here from the
// definitions (explicit means, brute-force average ranks), ties, the per-example affine
// invariance it claims, minibatches, numerical range and undefined cases.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "framework/core/error.h"
#include "framework/rsa/rdm.h"
#include "framework/rsa/rsa.h"
#include "tests/support/dense_matrix.h"
#include "tests/support/scale_check.h"

namespace convlab::rsa {
namespace {

using test_support::Matrix;
using test_support::random_normal;

// Y = tanh(X W) + noise: related to X, not linearly.
Matrix related(const Matrix& x, int64_t n, int64_t p, int64_t q, uint64_t seed) {
  const Matrix w = random_normal(p, q, seed), noise = random_normal(n, q, seed + 1);
  Matrix y(static_cast<size_t>(n * q));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < q; ++j) {
      double s = 0.0;
      for (int64_t c = 0; c < p; ++c) s += x[i * p + c] * w[c * q + j];
      y[i * q + j] = std::tanh(s) + 0.3 * noise[i * q + j];
    }
  return y;
}

// ---- References from the definitions ----

double pearson(const std::vector<double>& a, const std::vector<double>& b) {
  const double n = static_cast<double>(a.size());
  double ma = 0, mb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ma += a[i] / n;
    mb += b[i] / n;
  }
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ab += (a[i] - ma) * (b[i] - mb);
    aa += (a[i] - ma) * (a[i] - ma);
    bb += (b[i] - mb) * (b[i] - mb);
  }
  return ab / std::sqrt(aa * bb);
}

// Upper triangle of 1 - Pearson correlation between rows, pairs i < j in row order. (With
// p = 2 every correlation is +-1: a degenerate case of all ties, which the tests avoid.)
std::vector<double> reference_rdm(const Matrix& x, int64_t n, int64_t p) {
  std::vector<double> out;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) {
      const std::vector<double> a(x.begin() + i * p, x.begin() + (i + 1) * p);
      const std::vector<double> b(x.begin() + j * p, x.begin() + (j + 1) * p);
      out.push_back(1.0 - pearson(a, b));
    }
  return out;
}

// rank_i = #{v_j < v_i} + (#{v_j == v_i} + 1) / 2: the average rank of ties, by counting.
std::vector<double> reference_ranks(const std::vector<double>& v) {
  std::vector<double> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    double below = 0, equal = 0;
    for (double w : v) {
      below += w < v[i];
      equal += w == v[i];
    }
    r[i] = below + (equal + 1) / 2;
  }
  return r;
}

double reference_rsa(const Matrix& x, int64_t px, const Matrix& y, int64_t py, int64_t n) {
  return pearson(reference_ranks(reference_rdm(x, n, px)), reference_ranks(reference_rdm(y, n, py)));
}

TEST(Rsa, RdmAndRanksMatchTheDefinitions) {
  const int64_t n = 7, p = 5;
  const Matrix x = random_normal(n, p, 1);
  RankWorkspace w;
  std::vector<double> ranks(static_cast<size_t>(n * (n - 1) / 2));
  EXPECT_EQ(rdm_ranks(cka::FeatureView(x, n, p), ranks.data(), w), 0);
  const std::vector<double> rdm = reference_rdm(x, n, p);
  ASSERT_EQ(w.distances.size(), rdm.size());
  for (size_t i = 0; i < rdm.size(); ++i) EXPECT_NEAR(w.distances[i], rdm[i], 1e-14) << i;
  const std::vector<double> ref = reference_ranks(rdm);
  const double mean = (static_cast<double>(rdm.size()) + 1) / 2;
  for (size_t i = 0; i < ref.size(); ++i) EXPECT_EQ(ranks[i], ref[i] - mean) << i;

  // Ties share their average rank.
  const std::vector<double> v = {3, 1, 3, 2, 3, 1};
  std::vector<double> c(v.size());
  centred_ranks(v.data(), 6, c.data());
  const std::vector<double> expected = {5, 1.5, 5, 3, 5, 1.5};
  for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(c[i], expected[i] - 3.5) << i;
}

TEST(Rsa, SmallCasesMatchTheDefinitions) {
  for (const auto& [n, px, py] : {std::tuple<int64_t, int64_t, int64_t>{6, 3, 4}, {12, 8, 5}, {30, 3, 40}}) {
    const Matrix x = random_normal(n, px, 2 + n);
    const Matrix y = related(x, n, px, py, 3 + n);
    const double ref = reference_rsa(x, px, y, py, n);
    EXPECT_NEAR(rsa(cka::FeatureView(x, n, px), cka::FeatureView(y, n, py)), ref, 1e-12) << n;
    const std::vector<float> xf(x.begin(), x.end()), yf(y.begin(), y.end());
    EXPECT_NEAR(rsa(cka::FeatureView(xf, n, px), cka::FeatureView(yf, n, py)), ref, 1e-5) << n;
    EXPECT_NEAR(rsa(cka::FeatureView(x, n, px), cka::FeatureView(x, n, px)), 1.0, 1e-12);
  }
}

TEST(Rsa, TiesFromRepeatedExamples) {
  // Examples 0, 1 and 2 of x are the same: their three distances are 0 and each of them is
  // equally far from every other example, so the RDM holds many exact ties. Small whole
  // numbers keep every distance exact in any summation order (BLAS kernels differ between
  // CPUs), so the ties are ties on every machine.
  const int64_t n = 9, p = 4;
  Matrix x = random_normal(n, p, 10);
  for (double& v : x) v = std::round(3 * v);
  for (int64_t c = 0; c < p; ++c) x[1 * p + c] = x[2 * p + c] = x[c];
  const Matrix y = related(x, n, p, 6, 11);
  EXPECT_NEAR(rsa(cka::FeatureView(x, n, p), cka::FeatureView(y, n, 6)), reference_rsa(x, p, y, 6, n), 1e-12);
}

TEST(Rsa, InvariantToPerExampleAffineMaps) {
  const int64_t n = 40, p = 9, q = 7;
  const Matrix x = random_normal(n, p, 20);
  const Matrix y = related(x, n, p, q, 21);
  std::mt19937_64 rng(22);
  std::uniform_real_distribution<double> scale(0.1, 10.0), shift(-5.0, 5.0);
  Matrix affine(y), stretched(y);
  for (int64_t i = 0; i < n; ++i) {
    const double a = scale(rng), b = shift(rng);
    for (int64_t j = 0; j < q; ++j) affine[i * q + j] = a * y[i * q + j] + b;
  }
  for (int64_t j = 0; j < q; ++j) {  // a per-feature scaling is not such a map
    const double a = j == 0 ? 20.0 : 0.2;
    for (int64_t i = 0; i < n; ++i) stretched[i * q + j] *= a;
  }
  const cka::FeatureView fx(x, n, p);
  const double base = rsa(fx, cka::FeatureView(y, n, q));
  EXPECT_GT(base, 0.1);
  EXPECT_NEAR(rsa(fx, cka::FeatureView(affine, n, q)), base, 1e-12);
  EXPECT_GT(std::abs(rsa(fx, cka::FeatureView(stretched, n, q)) - base), 1e-3);
}

TEST(Rsa, MinibatchesAverageThePerBatchSpearmanWeightedBySize) {
  const int64_t n = 25, p = 5, q = 6;
  const Matrix x = random_normal(n, p, 30);
  const Matrix y = related(x, n, p, q, 31);
  RsaAccumulator acc(1, 1);
  double weighted = 0;
  for (const auto& [first, count] : {std::pair<int64_t, int64_t>{0, 10}, {10, 10}, {20, 5}}) {
    const Matrix xb(x.begin() + first * p, x.begin() + (first + count) * p);
    const Matrix yb(y.begin() + first * q, y.begin() + (first + count) * q);
    acc.add_batch({cka::FeatureView(xb, count, p)}, {cka::FeatureView(yb, count, q)});
    weighted += count * reference_rsa(xb, p, yb, q, count);
  }
  EXPECT_EQ(acc.batches(), 3);
  EXPECT_NEAR(acc.result()[0], weighted / n, 1e-12);
  // Self mode equals cross mode with the same network.
  RsaAccumulator self(2, 0), cross(2, 2);
  const std::vector<cka::FeatureView> layers{cka::FeatureView(x, n, p, "x"), cka::FeatureView(y, n, q, "y")};
  self.add_batch(layers);
  cross.add_batch(layers, layers);
  for (int e = 0; e < 4; ++e) EXPECT_NEAR(self.result()[e], cross.result()[e], 1e-15);
  EXPECT_NEAR(self.result()[0], 1.0, 1e-12);
}

TEST(Rsa, FeaturesOfAnyScale) {
  const int64_t n = 20, p = 6, q = 4;
  const Matrix x = random_normal(n, p, 40);
  const Matrix y = related(x, n, p, q, 41);
  const auto measure = [](const cka::FeatureView& a, const cka::FeatureView& b) { return rsa(a, b); };
  test_support::expect_scale_free(measure, x, y, n, p, q, 1e-12);
}

TEST(Rsa, ConstantExamplesAndLayers) {
  const int64_t n = 8, p = 3;
  Matrix x = random_normal(n, p, 50);
  for (int64_t c = 0; c < p; ++c) x[3 * p + c] = 0.25;  // example 3 is constant
  const Matrix y = random_normal(n, p, 51);
  testing::internal::CaptureStderr();
  const double v = rsa(cka::FeatureView(x, n, p, "dead"), cka::FeatureView(y, n, p));
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(std::isfinite(v));
  EXPECT_NE(err.find("'dead'"), std::string::npos) << err;
  EXPECT_NE(err.find("1 of 8 examples"), std::string::npos) << err;

  const Matrix constant(static_cast<size_t>(n * p), 1.5);
  testing::internal::CaptureStderr();
  EXPECT_TRUE(std::isnan(rsa(cka::FeatureView(constant, n, p, "flat"), cka::FeatureView(y, n, p))));
  EXPECT_NE(testing::internal::GetCapturedStderr().find("'flat'"), std::string::npos);

  Matrix bad = random_normal(n, p, 52);
  bad[4] = NAN;
  EXPECT_THROW(rsa(cka::FeatureView(bad, n, p), cka::FeatureView(y, n, p)), Error);
  EXPECT_THROW(rsa(cka::FeatureView(y.data(), 2, p), cka::FeatureView(y.data(), 2, p)), Error);  // < 3 examples
}

}  // namespace
}  // namespace convlab::rsa
