// CKA: invariances, Gram vs feature space, the estimators against straightforward O(n^3)
// formulas with an explicit centring matrix, the RBF width, minibatch accumulation, and the
// reference implementation's defects (mirrored cross matrices, a percentile instead of the
// median, the kernel ignored for two networks).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <vector>

#include "framework/cka/accumulator.h"
#include "framework/cka/centring.h"
#include "framework/cka/cka.h"
#include "framework/cka/gram.h"
#include "framework/cka/hsic.h"
#include "framework/cka/linear_cka.h"
#include "framework/cka/rbf_width.h"
#include "framework/core/error.h"
#include "tests/support/dense_matrix.h"
#include "tests/support/error_of.h"

namespace convlab::cka {
namespace {

using test_support::Matrix;
using test_support::random_normal;
using test_support::matmul;
using test_support::transpose;
using test_support::random_orthogonal;

// ReLU(X W + 0.3): a "next layer" of X, so that layers are related but not linearly.
Matrix next_layer(const Matrix& x, int64_t n, int64_t p, int64_t q, uint64_t seed) {
  Matrix y = matmul(x, random_normal(p, q, seed), n, p, q);
  for (double& v : y) v = std::max(0.0, v + 0.3);
  return y;
}

// ---- Straightforward references (test code only): explicit H, O(n^3) products. ----

Matrix raw_linear_gram(const Matrix& x, int64_t n, int64_t p) { return matmul(x, transpose(x, n, p), n, p, n); }

Matrix centring_matrix(int64_t n) {
  Matrix h(static_cast<size_t>(n * n));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) h[i * n + j] = (i == j ? 1.0 : 0.0) - 1.0 / static_cast<double>(n);
  return h;
}

double trace(const Matrix& a, int64_t n) {
  double t = 0.0;
  for (int64_t i = 0; i < n; ++i) t += a[i * n + i];
  return t;
}

// tr(K H L H) / (n-1)^2
double reference_hsic_biased(const Matrix& k, const Matrix& l, int64_t n) {
  const Matrix h = centring_matrix(n);
  const Matrix khlh = matmul(matmul(matmul(k, h, n, n, n), l, n, n, n), h, n, n, n);
  return trace(khlh, n) / ((n - 1.0) * (n - 1.0));
}

// Song et al. (2012) with explicit products of the zero-diagonal matrices.
double reference_hsic_debiased(Matrix k, Matrix l, int64_t n) {
  for (int64_t i = 0; i < n; ++i) k[i * n + i] = l[i * n + i] = 0.0;
  const Matrix kl = matmul(k, l, n, n, n);
  double sum_k = 0.0, sum_l = 0.0, sum_kl = 0.0;
  for (size_t i = 0; i < k.size(); ++i) {
    sum_k += k[i];
    sum_l += l[i];
    sum_kl += kl[i];
  }
  const double nd = static_cast<double>(n);
  return (trace(kl, n) + sum_k * sum_l / ((nd - 1) * (nd - 2)) - 2.0 / (nd - 2) * sum_kl) / (nd * (nd - 3));
}

double reference_cka(const Matrix& k, const Matrix& l, int64_t n, Estimator estimator) {
  auto h = [&](const Matrix& a, const Matrix& b) {
    return estimator == Estimator::biased ? reference_hsic_biased(a, b, n) : reference_hsic_debiased(a, b, n);
  };
  return h(k, l) / std::sqrt(h(k, k) * h(l, l));
}

// RBF Gram from raw features with a given width.
Matrix reference_rbf_gram(const Matrix& x, int64_t n, int64_t p, double width_sq) {
  Matrix k(static_cast<size_t>(n * n));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double d = 0.0;
      for (int64_t c = 0; c < p; ++c) d += (x[i * p + c] - x[j * p + c]) * (x[i * p + c] - x[j * p + c]);
      k[i * n + j] = std::exp(-d / (2.0 * width_sq));
    }
  return k;
}

// Median of the squared distances over pairs i < j, by sorting.
double reference_median_distance(const Matrix& x, int64_t n, int64_t p) {
  std::vector<double> d;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) {
      double s = 0.0;
      for (int64_t c = 0; c < p; ++c) s += (x[i * p + c] - x[j * p + c]) * (x[i * p + c] - x[j * p + c]);
      d.push_back(s);
    }
  std::sort(d.begin(), d.end());
  const size_t m = d.size();
  return m % 2 ? d[m / 2] : 0.5 * (d[m / 2 - 1] + d[m / 2]);
}

const Options kLinearBiased{Kernel::linear(), Estimator::biased};
const Options kLinearDebiased{Kernel::linear(), Estimator::debiased};
const Options kRbfBiased{Kernel::rbf(1.0), Estimator::biased};
const Options kRbfDebiased{Kernel::rbf(0.8), Estimator::debiased};
const Options kAllOptions[] = {kLinearBiased, kLinearDebiased, kRbfBiased, kRbfDebiased};

std::string describe(const Options& o) { return o.kernel.str() + " " + estimator_name(o.estimator); }

// Hand-written features of 5 examples.
const Matrix kSmallX = {1, 2,  //
                        3, -1,  //
                        0, 4,  //
                        2, 2,  //
                        -1, 0};
const Matrix kSmallY = {0.5, 1, 2,  //
                        1, 0, -1,  //
                        2, 3, 1,  //
                        -1, 1, 0,  //
                        0, 2, 2.5};

// ---- Basic properties ----

TEST(Cka, SelfSimilarityIsOne) {
  const int64_t n = 40, p = 12;
  const Matrix x = random_normal(n, p, 1);
  std::vector<float> xf(x.begin(), x.end());
  for (const Options& o : kAllOptions) {
    EXPECT_NEAR(cka(FeatureView(x, n, p), FeatureView(x, n, p), o), 1.0, 1e-12) << describe(o);
    EXPECT_NEAR(cka(FeatureView(xf, n, p), FeatureView(xf, n, p), o), 1.0, 1e-6) << describe(o);
  }
}

TEST(Cka, InvariantToPermutationScalingAndOrthogonalMaps) {
  const int64_t n = 80, p = 10;
  const Matrix x = random_normal(n, p, 2);
  const Matrix y = next_layer(x, n, p, p, 3);
  // Y P (a permutation of the features), 3.7 Y, Y Q (Q orthogonal), Y A (A invertible).
  std::vector<int64_t> perm(p);
  for (int64_t i = 0; i < p; ++i) perm[i] = (i * 7 + 3) % p;
  Matrix permuted(y.size()), scaled(y);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < p; ++c) permuted[i * p + c] = y[i * p + perm[c]];
  for (double& v : scaled) v *= 3.7;
  const Matrix q = random_orthogonal(p, 4);
  const Matrix qtq = matmul(transpose(q, p, p), q, p, p, p);
  for (int64_t i = 0; i < p; ++i)
    for (int64_t j = 0; j < p; ++j) ASSERT_NEAR(qtq[i * p + j], i == j ? 1.0 : 0.0, 1e-12);
  const Matrix rotated = matmul(y, q, n, p, p);
  Matrix a = random_normal(p, p, 5);  // invertible (almost surely), far from orthogonal
  for (int64_t i = 0; i < p; ++i) a[i * p + i] += 2.0;
  for (int64_t j = 0; j < p; ++j) a[j] *= 6.0;  // stretch the first row's map
  const Matrix mapped = matmul(y, a, n, p, p);

  for (const Options& o : kAllOptions) {
    const FeatureView fx(x, n, p);
    const double base = cka(fx, FeatureView(y, n, p), o);
    EXPECT_GT(base, 0.05) << describe(o);
    EXPECT_NEAR(cka(fx, FeatureView(permuted, n, p), o), base, 1e-10) << describe(o);
    EXPECT_NEAR(cka(fx, FeatureView(scaled, n, p), o), base, 1e-10) << describe(o);
    EXPECT_NEAR(cka(fx, FeatureView(rotated, n, p), o), base, 1e-10) << describe(o);
    EXPECT_GT(std::abs(cka(fx, FeatureView(mapped, n, p), o) - base), 1e-3) << describe(o);
  }
}

TEST(Cka, GramSpaceEqualsFeatureSpace) {
  for (const auto& [n, p1, p2] : {std::tuple<int64_t, int64_t, int64_t>{60, 13, 200}, {300, 7, 20}, {25, 40, 3}}) {
    const Matrix x = random_normal(n, p1, 6);
    const Matrix y = next_layer(x, n, p1, p2, 7);
    const FeatureView fx(x, n, p1), fy(y, n, p2);
    const double gram_space = linear_cka(fx, fy, LinearCkaSpace::gram);
    const double feature_space = linear_cka(fx, fy, LinearCkaSpace::feature);
    EXPECT_NEAR(gram_space, feature_space, 1e-10) << n << " " << p1 << " " << p2;
    EXPECT_NEAR(linear_cka(fx, fy), gram_space, 1e-10);
    EXPECT_NEAR(cka(fx, fy, kLinearBiased), gram_space, 1e-10);
    // The Gram-space value through the general path and the O(n^3) reference.
    EXPECT_NEAR(gram_space,
                reference_cka(raw_linear_gram(x, n, p1), raw_linear_gram(y, n, p2), n, Estimator::biased), 1e-10);
    // f32 features: the same to f32 accuracy in either space.
    const std::vector<float> xf(x.begin(), x.end()), yf(y.begin(), y.end());
    const FeatureView gx(xf, n, p1), gy(yf, n, p2);
    EXPECT_NEAR(linear_cka(gx, gy, LinearCkaSpace::gram), gram_space, 1e-5);
    EXPECT_NEAR(linear_cka(gx, gy, LinearCkaSpace::feature), gram_space, 1e-5);
  }
  EXPECT_EQ(cheaper_linear_cka_space(1000, 100, 200), LinearCkaSpace::feature);
  EXPECT_EQ(cheaper_linear_cka_space(1000, 98304, 10), LinearCkaSpace::gram);
}

TEST(Cka, BiasedAndDebiasedAgreeAsNGrows) {
  // Independent features: the true CKA is 0; the biased estimate is pulled up by about p/n.
  auto gap = [](int64_t n, uint64_t seed) {
    const int64_t p = 16;
    const Matrix x = random_normal(n, p, seed), y = random_normal(n, p, seed + 100);
    const FeatureView fx(x, n, p), fy(y, n, p);
    const double biased = cka(fx, fy, kLinearBiased);
    const double debiased = cka(fx, fy, kLinearDebiased);
    EXPECT_GT(biased, debiased);
    return biased - debiased;
  };
  const double small = gap(20, 8), large = gap(2000, 9);
  EXPECT_LT(large, 0.02);
  EXPECT_GT(small, 0.2);
  EXPECT_GT(small, 10 * large);
}

// ---- Small cases against the O(n^3) formulas ----

TEST(Cka, SmallCasesMatchExplicitFormulas) {
  const int64_t n = 5;
  const Matrix k_raw = raw_linear_gram(kSmallX, n, 2), l_raw = raw_linear_gram(kSmallY, n, 3);
  const FeatureView fx(kSmallX, n, 2, "x"), fy(kSmallY, n, 3, "y");
  const Matrix k = gram(fx, Kernel::linear()), l = gram(fy, Kernel::linear());

  // Our Grams are of column-centred features: H K H equals that of the raw Gram.
  Matrix k_centred(k_raw);
  centre_gram(k_centred.data(), n);
  const Matrix h = centring_matrix(n);
  const Matrix hkh = matmul(matmul(h, k_raw, n, n, n), h, n, n, n);
  for (size_t i = 0; i < hkh.size(); ++i) {
    EXPECT_NEAR(k_centred[i], hkh[i], 1e-12);
    EXPECT_NEAR(k[i], hkh[i], 1e-12);
  }

  const double biased_ref = reference_hsic_biased(k_raw, l_raw, n);
  const double debiased_ref = reference_hsic_debiased(k_raw, l_raw, n);
  EXPECT_NEAR(hsic_biased(k_raw.data(), l_raw.data(), n), biased_ref, 1e-12);
  EXPECT_NEAR(hsic_biased(k.data(), l.data(), n), biased_ref, 1e-12);
  EXPECT_NEAR(hsic_debiased(k_raw.data(), l_raw.data(), n), debiased_ref, 1e-12);
  EXPECT_NEAR(hsic_debiased(k.data(), l.data(), n), debiased_ref, 1e-12);  // translation invariant
  EXPECT_NEAR(hsic(Estimator::debiased, k.data(), l.data(), n), debiased_ref, 1e-12);

  for (const Estimator e : {Estimator::biased, Estimator::debiased}) {
    const double ref = reference_cka(k_raw, l_raw, n, e);
    EXPECT_NEAR(cka(fx, fy, {Kernel::linear(), e}), ref, 1e-12) << estimator_name(e);
    EXPECT_NEAR(cka_from_grams(k_raw.data(), l_raw.data(), n, e), ref, 1e-12) << estimator_name(e);
    // One batch through the accumulator: the U-centred (or centred) Gram products.
    CkaAccumulator acc(1, 1, {Kernel::linear(), e});
    acc.add_batch({fx}, {fy});
    EXPECT_NEAR(acc.result()[0], ref, 1e-12) << estimator_name(e);
    const std::vector<double> mean = acc.mean_hsic();  // (2, 2)
    EXPECT_NEAR(mean[1], e == Estimator::biased ? biased_ref : debiased_ref, 1e-12);
    EXPECT_NEAR(mean[2], mean[1], 1e-12);
  }

  // RBF with frac 1: width = median of the 10 pairwise squared distances.
  const double width_x = reference_median_distance(kSmallX, n, 2);
  const double width_y = reference_median_distance(kSmallY, n, 3);
  const Matrix kr = reference_rbf_gram(kSmallX, n, 2, width_x), lr = reference_rbf_gram(kSmallY, n, 3, width_y);
  for (const Estimator e : {Estimator::biased, Estimator::debiased})
    EXPECT_NEAR(cka(fx, fy, {Kernel::rbf(), e}), reference_cka(kr, lr, n, e), 1e-12) << estimator_name(e);
}

TEST(Cka, CentringMatchesExplicitH) {
  const int64_t n = 7;
  const Matrix x = random_normal(n, 3, 10);
  Matrix k = raw_linear_gram(x, n, 3);
  const Matrix h = centring_matrix(n);
  const Matrix hkh = matmul(matmul(h, k, n, n, n), h, n, n, n);
  centre_gram(k.data(), n);
  for (size_t i = 0; i < k.size(); ++i) EXPECT_NEAR(k[i], hkh[i], 1e-12);
}

TEST(Cka, F32GramSumsBlocksInDouble) {
  // More features than one f32 block: the blocks are summed in f64.
  const int64_t n = 12, p = 3 * kGramBlock + 17;
  Matrix x = random_normal(n, p, 11);
  for (double& v : x) v = std::max(0.0, v) + 1.0;  // ReLU-like, large common mean
  const std::vector<float> xf(x.begin(), x.end());
  const Matrix xr(xf.begin(), xf.end());  // the f32 values, exactly
  Matrix ref = raw_linear_gram(xr, n, p);
  centre_gram(ref.data(), n);
  const Matrix k = gram(FeatureView(xf, n, p), Kernel::linear());
  double scale = 0.0;
  for (double v : ref) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < k.size(); ++i) EXPECT_NEAR(k[i], ref[i], 1e-5 * scale);
}

// ---- RBF width ----

// Points on a line at 0, 1, 3, 7: squared distances of the 6 pairs are 1, 4, 9, 16, 36, 49,
// median (9 + 16) / 2 = 12.5. Over all 16 entries (with the 4 zero self-distances and each
// pair twice) it would be 6.5; the 0.5th percentile is near the smallest distance.
const Matrix kLine = {0, 1, 3, 7};

TEST(CkaRbf, WidthIsTheMedianOfDistinctPairs) {
  const Matrix k = raw_linear_gram(kLine, 4, 1);
  EXPECT_DOUBLE_EQ(median_squared_distance(k.data(), 4), 12.5);
  // An odd count: 0, 1, 3 gives 1, 4, 9 -> 4.
  const Matrix k3 = raw_linear_gram({0, 1, 3}, 3, 1);
  EXPECT_DOUBLE_EQ(median_squared_distance(k3.data(), 3), 4.0);
}

TEST(CkaRbf, GramUsesTheMedianNotALowPercentile) {
  // Reference defect 2: s^2 = frac * (0.5th percentile of D). np.percentile(D, 0.5) over the 16
  // entries interpolates between zeros: 0, and over the 6 pairs: 1 + 0.025 * 3 = 1.075.
  for (const double frac : {1.0, 0.5}) {
    const Matrix k = gram(FeatureView(kLine, 4, 1), Kernel::rbf(frac));
    const double width_sq = frac * frac * 12.5;
    const double percentile_width = frac * 1.075;
    for (int64_t i = 0; i < 4; ++i)
      for (int64_t j = 0; j < 4; ++j) {
        const double d = (kLine[i] - kLine[j]) * (kLine[i] - kLine[j]);
        EXPECT_NEAR(k[i * 4 + j], std::exp(-d / (2.0 * width_sq)), 1e-15) << i << " " << j;
        if (d > 0) {
          const double narrow = std::exp(-d / (2.0 * percentile_width));
          EXPECT_GT(std::abs(k[i * 4 + j] - narrow), 0.1 * k[i * 4 + j]) << i << " " << j;
        }
      }
  }
  // And CKA through the median width differs from CKA through the percentile width.
  const int64_t n = 30, p = 4;
  const Matrix x = random_normal(n, p, 12);
  const Matrix y = next_layer(x, n, p, 5, 13);
  const double ours = cka(FeatureView(x, n, p), FeatureView(y, n, 5), kRbfBiased);
  const Matrix kx = reference_rbf_gram(x, n, p, reference_median_distance(x, n, p));
  const Matrix ky = reference_rbf_gram(y, n, 5, reference_median_distance(y, n, 5));
  EXPECT_NEAR(ours, reference_cka(kx, ky, n, Estimator::biased), 1e-12);
}

TEST(CkaRbf, ZeroMedianTakesTheNarrowLimit) {
  // 4 of 5 points coincide: 6 of the 10 distances are 0, so the median is 0. Coinciding points
  // get kernel 1, the others 0, instead of 0/0.
  const Matrix x = {1, 1, 1, 1, 5};
  const Matrix k = gram(FeatureView(x, 5, 1), Kernel::rbf());
  for (int64_t i = 0; i < 5; ++i)
    for (int64_t j = 0; j < 5; ++j) EXPECT_EQ(k[i * 5 + j], (i == 4) == (j == 4) ? 1.0 : 0.0);
}

// A width fraction far from 1 makes the RBF kernel 1 (too wide) or 0 (too narrow) for every
// pair of distinct examples: an error naming the layer and --rbf-frac, for one pair of layers
// and in the accumulator alike, where it used to be NaN blamed on constant features (debiased)
// or a CKA of the identity kernel (biased).
TEST(CkaRbf, AWidthThatTellsNoExampleApartIsAnError) {
  std::random_device device;
  const uint64_t seed = device();
  SCOPED_TRACE(seed);
  const int64_t n = 20, p = 8;
  const Matrix x = random_normal(n, p, seed);
  const Matrix y = next_layer(x, n, p, 5, seed + 1);
  for (const auto& [frac, fit] : {std::pair{1e6, RbfFit::all_ones}, std::pair{1e-3, RbfFit::all_zeros}})
    for (Estimator estimator : {Estimator::biased, Estimator::debiased}) {
      const Options o{Kernel::rbf(frac), estimator};
      const std::string expected = rbf_misfit_message("layer 'conv3'", frac, fit);
      const std::string direct =
          test_support::error_of([&] { cka(FeatureView(x, n, p, "conv3"), FeatureView(y, n, 5, "fc"), o); });
      EXPECT_NE(direct.find(expected), std::string::npos) << direct;
      const std::string batched = test_support::error_of([&] {
        CkaAccumulator acc(1, 1, o);
        acc.add_batch({FeatureView(x, n, p, "conv3")}, {FeatureView(y, n, 5, "fc")});
      });
      EXPECT_NE(batched.find("layer 'conv3' of network A"), std::string::npos) << batched;
      EXPECT_NE(batched.find(fmt::format("--rbf-frac {:g}", frac)), std::string::npos) << batched;
    }
  // Between those, the centring judges: at 1e5 the kernel is 1 - 5e-11 D / median, which
  // centres to rounding, once read as constant features.
  const std::string centred = test_support::error_of([&] {
    CkaAccumulator acc(1, {Kernel::rbf(1e5), Estimator::debiased});
    acc.add_batch({FeatureView(x, n, p, "conv3")});
  });
  EXPECT_NE(centred.find(rbf_misfit_message("layer 'conv3'", 1e5, RbfFit::all_ones)), std::string::npos)
      << centred;
  // A fraction of 0.22 or more never makes every entry 0 (the smallest distance is at most
  // twice the median), and widths a few times the median leave variation well above rounding.
  for (const double frac : {0.22, 30.0}) {
    testing::internal::CaptureStderr();
    EXPECT_NEAR(cka(FeatureView(x, n, p), FeatureView(x, n, p), {Kernel::rbf(frac)}), 1.0, 1e-9) << frac;
    EXPECT_EQ(testing::internal::GetCapturedStderr(), "") << frac;
  }
}

// The largest distance over 2 s^2 at most kRbfFlat: all ones; the smallest nonzero one at least
// kRbfFlatExponent: all zeros; and a Gram that centring left flat although the examples differ.
TEST(CkaRbf, FitFromTheExtremeDistances) {
  const double smallest = 1.0, largest = 4.0;
  EXPECT_EQ(rbf_fit(smallest, largest, 2.0), RbfFit::fits);
  EXPECT_EQ(rbf_fit(smallest, largest, largest / (2.0 * 0.9 * kRbfFlat)), RbfFit::all_ones);
  EXPECT_EQ(rbf_fit(smallest, largest, largest / (2.0 * 1.1 * kRbfFlat)), RbfFit::fits);
  EXPECT_EQ(rbf_fit(smallest, largest, smallest / (2.0 * 1.1 * kRbfFlatExponent)), RbfFit::all_zeros);
  EXPECT_EQ(rbf_fit(smallest, largest, smallest / (2.0 * 0.9 * kRbfFlatExponent)), RbfFit::fits);
  EXPECT_EQ(rbf_fit(0.0, 0.0, 0.0), RbfFit::fits);  // constant features: CKA says so itself
  EXPECT_EQ(rbf_fit(smallest, largest, 0.0), RbfFit::fits);  // zero median: the narrow limit
  EXPECT_NEAR(std::exp(-kRbfFlatExponent), kRbfFlat, 1e-24);
  // Flat after centring: the side is that of the entries, wide (near 1) or narrow (near 0).
  EXPECT_EQ(rbf_fit(smallest, largest, 1e6, true), RbfFit::all_ones);
  EXPECT_EQ(rbf_fit(smallest, largest, 0.1, true), RbfFit::all_zeros);
  EXPECT_EQ(rbf_fit(0.0, 0.0, 0.0, true), RbfFit::fits);  // constant features
  EXPECT_EQ(rbf_fit(smallest, largest, 1e6, false), RbfFit::fits);
}

// ---- Minibatch accumulation and cross-network matrices ----

struct Network {
  int64_t n;
  std::vector<int64_t> widths;
  std::vector<Matrix> layers;  // (n, widths[l]) each

  std::vector<FeatureView> views(int64_t begin, int64_t count, const std::string& prefix) const {
    std::vector<FeatureView> out;
    for (size_t l = 0; l < layers.size(); ++l)
      out.emplace_back(layers[l].data() + begin * widths[l], count, widths[l], prefix + std::to_string(l));
    return out;
  }
};

// A random "network": each layer is ReLU of a random map of the previous one.
Network random_network(const Matrix& input, int64_t n, int64_t p, const std::vector<int64_t>& widths,
                       uint64_t seed) {
  Network net{n, widths, {}};
  const Matrix* previous = &input;
  int64_t previous_width = p;
  for (size_t l = 0; l < widths.size(); ++l) {
    net.layers.push_back(next_layer(*previous, n, previous_width, widths[l], seed + l));
    previous = &net.layers.back();
    previous_width = widths[l];
  }
  return net;
}

TEST(CkaAccumulator, OneBatchEqualsDirectCka) {
  const int64_t n = 64, p = 6;
  const Matrix input = random_normal(n, p, 20);
  const Network a = random_network(input, n, p, {9, 30, 4}, 21);
  for (const Options& o : kAllOptions) {
    const std::vector<double> m = cka_matrix(a.views(0, n, "a"), o);  // (3, 3)
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < 3; ++j) {
        const double direct =
            cka(FeatureView(a.layers[i], n, a.widths[i]), FeatureView(a.layers[j], n, a.widths[j]), o);
        EXPECT_NEAR(m[i * 3 + j], direct, 1e-10) << describe(o) << " " << i << " " << j;
      }
  }
}

// Reference defect 1: the cross matrix of two different networks is computed for every pair,
// not mirrored from one half. Defect 3: the kernel is honoured for two networks.
TEST(CkaAccumulator, CrossNetworkMatrixComputesEveryPair) {
  const int64_t n = 96, p = 8;
  const Matrix input = random_normal(n, p, 30);
  const Network a = random_network(input, n, p, {12, 7, 20, 5}, 31);
  const Network b = random_network(input, n, p, {6, 15, 9}, 41);
  std::vector<double> linear;
  for (const Options& o : kAllOptions) {
    const std::vector<double> m = cka_matrix(a.views(0, n, "a"), b.views(0, n, "b"), o);  // (4, 3)
    ASSERT_EQ(m.size(), 12u);
    for (int64_t i = 0; i < 4; ++i)
      for (int64_t j = 0; j < 3; ++j) {
        const double direct =
            cka(FeatureView(a.layers[i], n, a.widths[i]), FeatureView(b.layers[j], n, b.widths[j]), o);
        EXPECT_NEAR(m[i * 3 + j], direct, 1e-10) << describe(o) << " a" << i << " b" << j;
      }
    // The matrix is not symmetric: mirroring would have been wrong.
    double asymmetry = 0.0;
    for (int64_t i = 0; i < 3; ++i)
      for (int64_t j = 0; j < i; ++j) asymmetry = std::max(asymmetry, std::abs(m[i * 3 + j] - m[j * 3 + i]));
    EXPECT_GT(asymmetry, 0.01) << describe(o);
    if (o.kernel.kind == KernelKind::linear && o.estimator == Estimator::biased) linear = m;
    if (o.kernel.kind == KernelKind::rbf && o.estimator == Estimator::biased) {
      double difference = 0.0;
      for (size_t e = 0; e < m.size(); ++e) difference = std::max(difference, std::abs(m[e] - linear[e]));
      EXPECT_GT(difference, 0.01) << "the RBF matrix must not be the linear one";
    }
  }
}

TEST(CkaAccumulator, MinibatchesAverageHsicPerPair) {
  // Three batches of 40: CKA = mean HSIC(a, b) / sqrt(mean HSIC(a, a) mean HSIC(b, b)), with
  // each batch's HSIC from the O(n^2) Song formula on that batch's Grams.
  const int64_t n = 120, k = 40, p = 5;
  const Matrix input = random_normal(n, p, 50);
  const Network a = random_network(input, n, p, {8, 3}, 51);
  const Network b = random_network(input, n, p, {4, 10, 6}, 61);
  for (const Options& o : kAllOptions) {
    CkaAccumulator acc(2, 3, o);
    std::vector<std::vector<Matrix>> grams_a(2), grams_b(3);  // [layer][batch]
    for (int64_t begin = 0; begin < n; begin += k) {
      const std::vector<FeatureView> va = a.views(begin, k, "a"), vb = b.views(begin, k, "b");
      acc.add_batch(va, vb);
      for (int l = 0; l < 2; ++l) grams_a[l].push_back(gram(va[l], o.kernel));
      for (int l = 0; l < 3; ++l) grams_b[l].push_back(gram(vb[l], o.kernel));
    }
    EXPECT_EQ(acc.batches(), 3);
    EXPECT_EQ(acc.examples(), n);
    auto mean_hsic = [&](const std::vector<Matrix>& g1, const std::vector<Matrix>& g2) {
      double s = 0.0;
      for (size_t t = 0; t < g1.size(); ++t) s += hsic(o.estimator, g1[t].data(), g2[t].data(), k);
      return s / static_cast<double>(g1.size());
    };
    const std::vector<double> m = acc.result();  // (2, 3)
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 3; ++j) {
        const double expected = mean_hsic(grams_a[i], grams_b[j]) /
                                std::sqrt(mean_hsic(grams_a[i], grams_a[i]) * mean_hsic(grams_b[j], grams_b[j]));
        EXPECT_NEAR(m[i * 3 + j], expected, 1e-10) << describe(o) << " " << i << " " << j;
      }
  }
}

TEST(CkaAccumulator, SelfModeMatchesCrossModeWithTheSameNetwork) {
  const int64_t n = 60, p = 5;
  const Matrix input = random_normal(n, p, 70);
  const Network a = random_network(input, n, p, {8, 3, 11}, 71);
  CkaAccumulator self(3, kRbfDebiased), cross(3, 3, kRbfDebiased);
  for (int64_t begin = 0; begin < n; begin += 20) {
    self.add_batch(a.views(begin, 20, "a"));
    cross.add_batch(a.views(begin, 20, "a"), a.views(begin, 20, "a"));
  }
  const std::vector<double> s = self.result(), c = cross.result();
  for (size_t e = 0; e < s.size(); ++e) EXPECT_NEAR(s[e], c[e], 1e-12);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(s[i * 3 + i], 1.0, 1e-12);
}

TEST(CkaAccumulator, SeveralKernelsShareEachLayersLinearGram) {
  // Linear and RBF at once: one linear Gram per layer and batch, and the same values as one
  // accumulator per kernel.
  const int64_t n = 60, p = 5;
  const Matrix input = random_normal(n, p, 72);
  const Network a = random_network(input, n, p, {8, 3, 11}, 73);
  CkaAccumulator both(3, 0, {Kernel::linear(), Kernel::rbf(0.8)}, Estimator::debiased);
  CkaAccumulator linear(3, {Kernel::linear(), Estimator::debiased}), rbf(3, {Kernel::rbf(0.8), Estimator::debiased});
  for (int64_t begin = 0; begin < n; begin += 20) {
    both.add_batch(a.views(begin, 20, "a"));
    linear.add_batch(a.views(begin, 20, "a"));
    rbf.add_batch(a.views(begin, 20, "a"));
  }
  EXPECT_EQ(both.linear_grams(), 3 * 3);  // 3 layers, 3 batches, 2 kernels
  for (size_t e = 0; e < 9; ++e) {
    EXPECT_EQ(both.result(0)[e], linear.result()[e]);
    EXPECT_EQ(both.result(1)[e], rbf.result()[e]);
  }
}

TEST(CkaAccumulator, BatchesWeighByTheirSize) {
  // Batches of 30 and 6: the mean HSIC weighs them 30 : 6, not 1 : 1.
  const int64_t p = 4;
  const Matrix input = random_normal(36, p, 74);
  const Network a = random_network(input, 36, p, {6, 9}, 75);
  CkaAccumulator acc(2, kLinearBiased);
  acc.add_batch(a.views(0, 30, "a"));
  acc.add_batch(a.views(30, 6, "a"));
  const std::vector<double> mean = acc.mean_hsic();  // (2, 2)
  const auto batch_hsic = [&](int64_t begin, int64_t count, int i, int j) {
    const FeatureView x(a.layers[i].data() + begin * a.widths[i], count, a.widths[i]);
    const FeatureView y(a.layers[j].data() + begin * a.widths[j], count, a.widths[j]);
    return hsic_biased(gram(x, Kernel::linear()).data(), gram(y, Kernel::linear()).data(), count);
  };
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j)
      EXPECT_NEAR(mean[i * 2 + j], (30 * batch_hsic(0, 30, i, j) + 6 * batch_hsic(30, 6, i, j)) / 36, 1e-12);
  EXPECT_EQ(acc.terms().batches(), 2);
  EXPECT_EQ(acc.terms().weight(1), 6.0);
}

// ---- Numerical range ----

// Features of 1e-30 or 1e30 are representable in f32, but their f32 products underflow or
// overflow; CKA is scale-invariant and must not notice.
TEST(CkaRange, FeaturesOfAnyScaleGiveTheSameCka) {
  const int64_t n = 40, p = 6;
  const Matrix x = random_normal(n, p, 90);
  const Matrix y = next_layer(x, n, p, 9, 91);
  for (const double s : {1e-30, 1e-23, 1e-21, 1e19, 1e30}) {
    Matrix xs(x), ys(y);
    for (double& v : xs) v *= s;
    for (double& v : ys) v *= s;
    const std::vector<float> xf(xs.begin(), xs.end()), yf(ys.begin(), ys.end());
    for (const Options& o : kAllOptions) {
      const double base = cka(FeatureView(x, n, p), FeatureView(y, n, 9), o);
      testing::internal::CaptureStderr();
      EXPECT_NEAR(cka(FeatureView(xs, n, p), FeatureView(ys, n, 9), o), base, 1e-10) << s << " " << describe(o);
      EXPECT_NEAR(cka(FeatureView(xf, n, p), FeatureView(yf, n, 9), o), base, 1e-5) << s << " " << describe(o);
      CkaAccumulator acc(1, 1, o);
      acc.add_batch({FeatureView(xf.data(), 20, p)}, {FeatureView(yf.data(), 20, 9)});
      acc.add_batch({FeatureView(xf.data() + 20 * p, 20, p)}, {FeatureView(yf.data() + 20 * 9, 20, 9)});
      CkaAccumulator unscaled(1, 1, o);
      unscaled.add_batch({FeatureView(x.data(), 20, p)}, {FeatureView(y.data(), 20, 9)});
      unscaled.add_batch({FeatureView(x.data() + 20 * p, 20, p)}, {FeatureView(y.data() + 20 * 9, 20, 9)});
      EXPECT_NEAR(acc.result()[0], unscaled.result()[0], 1e-5) << s << " " << describe(o);
      EXPECT_EQ(testing::internal::GetCapturedStderr(), "") << "no false 'constant' warning at " << s;
    }
  }
  // The Gram keeps its true value: scaled by s^2.
  Matrix xs(x);
  for (double& v : xs) v *= 1e-30;
  const Matrix k = gram(FeatureView(x, n, p), Kernel::linear()), ks = gram(FeatureView(xs, n, p), Kernel::linear());
  EXPECT_NEAR(ks[0] / 1e-60, k[0], 1e-10 * std::abs(k[0]));
}

// ---- Errors and undefined values ----

TEST(CkaErrors, DebiasedNeedsFourExamples) {
  const Matrix x = random_normal(3, 2, 80);
  const FeatureView f(x, 3, 2);
  EXPECT_THROW(cka(f, f, kLinearDebiased), Error);
  EXPECT_NO_THROW(cka(f, f, kLinearBiased));
  CkaAccumulator acc(1, kRbfDebiased);
  try {
    acc.add_batch({f});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("at least 4"), std::string::npos) << e.what();
  }
}

TEST(CkaErrors, MismatchedExamples) {
  const Matrix x = random_normal(10, 2, 81), y = random_normal(9, 2, 82);
  const FeatureView fx(x, 10, 2, "conv1"), fy(y, 9, 2, "conv2");
  for (const Options& o : kAllOptions) EXPECT_THROW(cka(fx, fy, o), Error);
  EXPECT_THROW(linear_cka(fx, fy, LinearCkaSpace::feature), Error);
  try {
    CkaAccumulator(1, 1, kLinearBiased).add_batch({fx}, {fy});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("conv2"), std::string::npos) << e.what();
  }
  CkaAccumulator acc(2, kLinearBiased);
  EXPECT_THROW(acc.add_batch({fx}), Error);  // one layer short
  EXPECT_THROW(acc.result(), Error);         // no batches yet
}

TEST(CkaErrors, NanFeaturesAreAnError) {
  Matrix x = random_normal(10, 3, 83);
  const Matrix y = random_normal(10, 3, 84);
  x[7] = std::nan("");
  std::vector<float> xf(x.begin(), x.end());
  xf[4] = std::numeric_limits<float>::infinity();
  for (const Options& o : kAllOptions) {
    try {
      cka(FeatureView(x, 10, 3, "fc"), FeatureView(y, 10, 3), o);
      FAIL() << "expected an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("NaN"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("'fc'"), std::string::npos) << e.what();
    }
    EXPECT_THROW(cka(FeatureView(y, 10, 3), FeatureView(xf, 10, 3), o), Error);
  }
}

TEST(CkaErrors, ConstantFeaturesGiveNanAndAWarning) {
  const int64_t n = 12, p = 4;
  const Matrix y = random_normal(n, p, 85);
  const Matrix constant(static_cast<size_t>(n * p), 0.1);
  const std::vector<float> constant_f32(static_cast<size_t>(n * p), 0.1f);
  for (const Options& o : kAllOptions) {
    testing::internal::CaptureStderr();
    const double v = cka(FeatureView(constant, n, p, "dead_relu"), FeatureView(y, n, p), o);
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_TRUE(std::isnan(v)) << describe(o);
    EXPECT_NE(err.find("dead_relu"), std::string::npos) << err;
    EXPECT_TRUE(std::isnan(cka(FeatureView(y, n, p), FeatureView(constant_f32, n, p), o))) << describe(o);

    testing::internal::CaptureStderr();
    const std::vector<double> m =
        cka_matrix({FeatureView(y, n, p, "ok"), FeatureView(constant, n, p, "dead_relu")}, o);  // (2, 2)
    const std::string err2 = testing::internal::GetCapturedStderr();
    EXPECT_NEAR(m[0], 1.0, 1e-12);
    EXPECT_TRUE(std::isnan(m[1]) && std::isnan(m[2]) && std::isnan(m[3])) << describe(o);
    EXPECT_NE(err2.find("dead_relu"), std::string::npos) << err2;
  }
  testing::internal::CaptureStderr();
  EXPECT_TRUE(std::isnan(linear_cka(FeatureView(constant, n, p), FeatureView(y, n, p), LinearCkaSpace::feature)));
  testing::internal::GetCapturedStderr();
}

TEST(CkaErrors, BadKernelWidth) {
  const Matrix x = random_normal(6, 2, 86);
  const FeatureView f(x, 6, 2);
  EXPECT_THROW(cka(f, f, {Kernel::rbf(0.0), Estimator::biased}), Error);
  EXPECT_THROW(cka(f, f, {Kernel::rbf(-1.0), Estimator::biased}), Error);
}

// ---- Speed (report only): run with --gtest_also_run_disabled_tests ----

// The 10 layers of All-CNN-C depth 1 at n = 1024 random examples: minibatch debiased in
// batches of 256, then full-batch biased.
TEST(CkaSpeed, DISABLED_AllCnnC10Layers1024Examples) {
  const std::vector<int64_t> widths = {98304, 98304, 24576, 49152, 49152, 12288, 6912, 6912, 360, 10};
  const int64_t n = 1024, batch = 256;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<std::vector<float>> features(widths.size());  // (n, width) each, ReLU-like
  for (size_t l = 0; l < widths.size(); ++l) {
    features[l].resize(static_cast<size_t>(n * widths[l]));
    for (float& v : features[l]) v = std::max(0.0f, uniform(rng));
  }
  auto views = [&](int64_t begin, int64_t count) {
    std::vector<FeatureView> out;
    for (size_t l = 0; l < widths.size(); ++l)
      out.emplace_back(features[l].data() + begin * widths[l], count, widths[l]);
    return out;
  };
  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  CkaAccumulator minibatch(10, kLinearDebiased);
  for (int64_t begin = 0; begin < n; begin += batch) minibatch.add_batch(views(begin, batch));
  const std::vector<double> m1 = minibatch.result();
  auto t1 = Clock::now();
  const std::vector<double> m2 = cka_matrix(views(0, n), kLinearBiased);
  auto t2 = Clock::now();
  const double s1 = std::chrono::duration<double>(t1 - t0).count();
  const double s2 = std::chrono::duration<double>(t2 - t1).count();
  std::printf("10x10 self-CKA, n=%lld: minibatch debiased (batches of %lld) %.2f s, full-batch biased %.2f s\n",
              static_cast<long long>(n), static_cast<long long>(batch), s1, s2);
  for (int i = 0; i < 10; ++i) {
    EXPECT_NEAR(m1[i * 10 + i], 1.0, 1e-9);
    EXPECT_NEAR(m2[i * 10 + i], 1.0, 1e-9);
  }
  EXPECT_LT(s1 + s2, 60.0);
}

}  // namespace
}  // namespace convlab::cka
