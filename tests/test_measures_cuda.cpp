// The CUDA twin of the float64 measures' per-layer work (linalg::DeviceBatchGrams: Grams,
// centred spectra, exact copies) against the CPU's (linalg::gram_f64, centred_spectrum,
// first_copies) on fresh random features at real widths (All-CNN-C's first layer at a batch
// of 512: 96 x 32 x 32 features, 48 blocks of 2048) and tiny ones; the per-pair products
// (linalg::DevicePairProducts against HostPairProducts); then mutual k-NN, CKNNA,
// SVCCA, PWCCA, linear predictivity and the permutation tests through StreamingComparison, the
// same batches on the GPU and on the CPU. Skips when no GPU answers.
//
// Tolerances: both sides compute in float64 from the same f32 features and differ only in the
// order of their sums (cuBLAS's DSYRK against OpenBLAS's), which moves a Gram entry by a few
// ulps of sqrt(K_ii K_jj): 1e-12 of it here. The spectra (trace 1): 1e-13 on each eigenvalue.
// The measures: mutual k-NN exactly (no near ties in continuous random features: the same
// neighbours), CKNNA 1e-10 (a ratio of sums of the cosines), SVCCA and ridge 1e-9, PWCCA 1e-8
// (its weights come from the canonical directions); the permutation p-values exactly. SVCCA
// and PWCCA keep 8 directions (--svcca-dims), so that the kept spans of two layers never
// intersect by count alone (dx + dy < the batch): correlations of exactly 1 would leave
// PWCCA's directions, and so its value, to rounding. SVCCA by variance is compared apart.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "framework/analysis/compare.h"
#include "framework/analysis/streaming_comparison.h"
#include "framework/backend/cuda_device.h"
#include "framework/cka/features.h"
#include "framework/core/tensor.h"
#include "framework/linalg/centred_spectrum.h"
#include "framework/linalg/first_copies.h"
#include "framework/linalg/gram_f64.h"
#include "framework/linalg/pair_products.h"
#include "tests/support/error_of.h"

#if CONVLAB_WITH_CUDA
#include "framework/linalg/cuda/device_grams.h"
#include "framework/linalg/cuda/device_pair_products.h"
#include "tests/support/cuda_test.h"

using namespace convlab;

namespace {

// (n, p) f32: 6 shared latent factors mixed per layer, a ReLU, an offset and noise.
std::vector<float> layer_values(int64_t n, int64_t p, uint64_t seed) {
  std::mt19937_64 latent_rng(11), rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> z(static_cast<size_t>(n * 6));
  for (float& v : z) v = normal(latent_rng);
  std::vector<float> w(static_cast<size_t>(6 * p));
  for (float& v : w) v = normal(rng);
  std::vector<float> x(static_cast<size_t>(n * p));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < p; ++c) {
      float m = 0.0f;
      for (int64_t f = 0; f < 6; ++f) m += z[static_cast<size_t>(i * 6 + f)] * w[static_cast<size_t>(f * p + c)];
      x[static_cast<size_t>(i * p + c)] = std::max(m + 0.5f * normal(rng), 0.0f) + 0.25f;
    }
  return x;
}

Tensor upload(const std::vector<float>& x, int64_t n, int64_t p, Device device) {
  return Tensor::from_vector<float>({n, p}, x).to(device);
}

// |a_ij - b_ij| <= tolerance sqrt(b_ii b_jj) for (n, n) Grams.
void expect_grams_close(const std::vector<double>& a, const std::vector<double>& b, int64_t n, double tolerance,
                        const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  int64_t bad = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      const double scale = std::sqrt(b[static_cast<size_t>(i * n + i)] * b[static_cast<size_t>(j * n + j)]);
      const double diff = std::abs(a[static_cast<size_t>(i * n + j)] - b[static_cast<size_t>(i * n + j)]);
      if (diff > tolerance * scale && diff > 0.0 && bad++ < 5)
        ADD_FAILURE() << what << ": entry (" << i << ", " << j << ") " << a[static_cast<size_t>(i * n + j)]
                      << " against " << b[static_cast<size_t>(i * n + j)];
    }
  EXPECT_EQ(bad, 0) << what;
}

class CudaDeviceGrams : public test_support::CudaTest {};

}  // namespace

TEST_F(CudaDeviceGrams, GramsMatchTheCpuAtRealAndTinyShapes) {
  struct Shape {
    int64_t n, p;
  };
  // All-CNN-C's first layer at 512 examples; a ragged last block; narrow; tiny; one feature.
  for (const Shape shape : {Shape{512, 96 * 32 * 32}, Shape{200, 4097}, Shape{300, 40}, Shape{5, 3}, Shape{64, 1}}) {
    SCOPED_TRACE(fmt::format("{} x {}", shape.n, shape.p));
    const std::vector<float> x = layer_values(shape.n, shape.p, static_cast<uint64_t>(shape.p));
    const Tensor t = upload(x, shape.n, shape.p, gpu());
    const cka::DeviceFeatureView device_view(t, "conv1");
    const cka::FeatureView host_view(x, shape.n, shape.p, "conv1");
    linalg::DeviceBatchGrams grams(cuda());
    grams.start(0);
    for (const linalg::Centring centring : {linalg::Centring::none, linalg::Centring::columns}) {
      int cpu_exponent = 0, gpu_exponent = 0;
      const std::vector<double> expected = linalg::gram_f64(host_view, centring, &cpu_exponent);
      const std::vector<double>& got = grams.gram(device_view, centring, &gpu_exponent);
      EXPECT_EQ(gpu_exponent, cpu_exponent);
      expect_grams_close(got, expected, shape.n, 1e-12,
                         centring == linalg::Centring::none ? "raw Gram" : "centred Gram");
      EXPECT_EQ(&grams.gram(device_view, centring), &got) << "computed once per batch";
    }
  }
}

// Features from 1e-40 (subnormal in f32) to 1e30: the power of two keeps every product in
// range on both sides, and both choose the same one.
TEST_F(CudaDeviceGrams, FeaturesOfAnyScale) {
  const int64_t n = 100, p = 3000;
  const std::vector<float> base = layer_values(n, p, 3);
  for (const float scale : {1e-40f, 1e-30f, 1e30f}) {
    SCOPED_TRACE(fmt::format("scale {}", scale));
    std::vector<float> x = base;
    for (float& v : x) v *= scale;
    const Tensor t = upload(x, n, p, gpu());
    linalg::DeviceBatchGrams grams(cuda());
    int cpu_exponent = 0, gpu_exponent = 0;
    const std::vector<double> expected =
        linalg::gram_f64(cka::FeatureView(x, n, p), linalg::Centring::columns, &cpu_exponent);
    expect_grams_close(grams.gram(cka::DeviceFeatureView(t), linalg::Centring::columns, &gpu_exponent), expected, n,
                       1e-12, "centred Gram");
    EXPECT_EQ(gpu_exponent, cpu_exponent);
  }
}

TEST_F(CudaDeviceGrams, NonFiniteFeaturesAreNamedAsOnTheCpu) {
  const int64_t n = 20, p = 3000;
  for (const float bad : {NAN, INFINITY, -INFINITY}) {
    std::vector<float> x = layer_values(n, p, 4);
    x[static_cast<size_t>(5 * p + 17)] = bad;
    const Tensor t = upload(x, n, p, gpu());
    linalg::DeviceBatchGrams grams(cuda());
    const std::string error =
        test_support::error_of([&] { grams.gram(cka::DeviceFeatureView(t, "conv7"), linalg::Centring::none); });
    const std::string expected = test_support::error_of(
        [&] { linalg::gram_f64(cka::FeatureView(x, n, p, "conv7"), linalg::Centring::none); });
    EXPECT_NE(error.find(std::isnan(bad) ? "has a NaN feature (example 5, feature 17)"
                                         : "has an infinite feature (example 5, feature 17)"),
              std::string::npos)
        << error;
    EXPECT_NE(error.find("conv7"), std::string::npos) << error;
    EXPECT_NE(expected.find("(example 5, feature 17)"), std::string::npos) << expected;
  }
}

// The spectrum of the centred Gram: the same eigenvalues (trace 1) and rank, and the same
// matrix U diag(values) U^T (eigenvectors are defined up to sign, and within repeated values
// up to rotation); an all-constant layer is constant on both sides.
TEST_F(CudaDeviceGrams, SpectrumMatchesTheCpu) {
  struct Shape {
    int64_t n, p;
  };
  for (const Shape shape : {Shape{300, 5000}, Shape{256, 20}, Shape{7, 4}}) {
    SCOPED_TRACE(fmt::format("{} x {}", shape.n, shape.p));
    const int64_t n = shape.n;
    const std::vector<float> x = layer_values(n, shape.p, 5);
    const Tensor t = upload(x, n, shape.p, gpu());
    linalg::DeviceBatchGrams grams(cuda());
    const linalg::CentredSpectrum& got = grams.spectrum(cka::DeviceFeatureView(t));
    const linalg::CentredSpectrum expected = linalg::centred_spectrum(cka::FeatureView(x, n, shape.p));
    ASSERT_EQ(got.values.size(), expected.values.size());
    EXPECT_FALSE(got.constant);
    EXPECT_EQ(got.rank, expected.rank);
    for (size_t j = 0; j < got.values.size(); ++j) EXPECT_NEAR(got.values[j], expected.values[j], 1e-13) << j;
    const auto rebuilt = [n](const linalg::CentredSpectrum& s) {
      std::vector<double> m(static_cast<size_t>(n * n), 0.0);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t l = 0; l < n; ++l)
          for (int64_t j = 0; j < s.rank; ++j)
            m[static_cast<size_t>(i * n + l)] += s.vectors[static_cast<size_t>(i * n + j)] *
                                                 s.values[static_cast<size_t>(j)] *
                                                 s.vectors[static_cast<size_t>(l * n + j)];
      return m;
    };
    const std::vector<double> a = rebuilt(got), b = rebuilt(expected);
    for (size_t e = 0; e < a.size(); ++e) ASSERT_NEAR(a[e], b[e], 1e-12) << "entry " << e;
  }
  const std::vector<float> constant(static_cast<size_t>(50 * 30), 2.5f);
  const Tensor t = upload(constant, 50, 30, gpu());
  linalg::DeviceBatchGrams grams(cuda());
  EXPECT_TRUE(grams.spectrum(cka::DeviceFeatureView(t)).constant);
  EXPECT_TRUE(linalg::centred_spectrum(cka::FeatureView(constant, 50, 30)).constant);
}

// Exact copies, as bytes: copies of one example, all-zero examples, a layer of one repeated
// example; and near copies that are not: one value a bit away, or -0 for 0.
TEST_F(CudaDeviceGrams, FirstCopiesMatchTheCpu) {
  const int64_t n = 300, p = 1000;
  std::vector<float> x = layer_values(n, p, 6);
  const auto copy_row = [&](int64_t from, int64_t to) {
    std::copy(x.begin() + from * p, x.begin() + (from + 1) * p, x.begin() + to * p);
  };
  copy_row(3, 10);
  copy_row(3, 250);
  copy_row(7, 8);
  x[static_cast<size_t>(8 * p + 999)] = std::nextafter(x[static_cast<size_t>(8 * p + 999)], 10.0f);  // not a copy
  for (const int64_t i : {20, 21, 299}) std::fill(x.begin() + i * p, x.begin() + (i + 1) * p, 0.0f);
  copy_row(20, 22);
  x[static_cast<size_t>(22 * p + 500)] = -0.0f;  // the same value, other bytes
  const Tensor t = upload(x, n, p, gpu());
  linalg::DeviceBatchGrams grams(cuda());
  const std::vector<int64_t> expected = linalg::first_copies(cka::FeatureView(x, n, p));
  EXPECT_EQ(grams.first_copies(cka::DeviceFeatureView(t)), expected);
  EXPECT_EQ(expected[10], 3);
  EXPECT_EQ(expected[250], 3);
  EXPECT_EQ(expected[8], 8);
  EXPECT_EQ(expected[21], 20);
  EXPECT_EQ(expected[22], 22);
  EXPECT_EQ(expected[299], 20);

  const std::vector<float> same = [&] {
    std::vector<float> out(static_cast<size_t>(64 * p));
    for (int64_t i = 0; i < 64; ++i) std::copy(x.begin(), x.begin() + p, out.begin() + i * p);
    return out;
  }();
  const Tensor u = upload(same, 64, p, gpu());
  EXPECT_EQ(grams.first_copies(cka::DeviceFeatureView(u)), std::vector<int64_t>(64, 0));
}

// The per-pair products with the matrices on the GPU against the CPU's BLAS: the CCA cross
// Grams on both sides (dx < dy and dx > dy), diag(M L M), and the permuted copies.
TEST_F(CudaDeviceGrams, PairProductsMatchTheCpu) {
  std::mt19937_64 rng(9);
  std::normal_distribution<double> normal(0.0, 1.0);
  const auto random = [&](int64_t rows, int64_t cols) {
    std::vector<double> m(static_cast<size_t>(rows * cols));
    for (double& v : m) v = normal(rng);
    return m;
  };
  const auto symmetric = [&](int64_t n) {
    std::vector<double> m = random(n, n);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < i; ++j) m[static_cast<size_t>(i * n + j)] = m[static_cast<size_t>(j * n + i)];
    return m;
  };
  const auto expect_close = [](const std::vector<double>& got, const std::vector<double>& expected, const char* what) {
    ASSERT_EQ(got.size(), expected.size()) << what;
    double scale = 0.0;
    for (double v : expected) scale = std::max(scale, std::abs(v));
    for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], expected[i], 1e-13 * scale) << what << " " << i;
  };
  for (const int64_t n : {333, 7}) {
    SCOPED_TRACE(fmt::format("{} examples", n));
    const int64_t dx = std::min<int64_t>(n - 1, 40), dy = std::min<int64_t>(n - 2, 65);
    std::vector<int32_t> perm(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)  // a permutation: 5 is prime to 333 and to 7
      perm[static_cast<size_t>(i)] = static_cast<int32_t>((i * 5 + 3) % n);
    linalg::HostPairProducts host;
    linalg::DevicePairProducts device(cuda());
    const std::vector<double> a = random(n, dx), b = random(n, dy), m = symmetric(n), l = symmetric(n);
    for (linalg::PairProducts* p : {static_cast<linalg::PairProducts*>(&host), static_cast<linalg::PairProducts*>(&device)}) {
      p->set(0, a, n, dx);
      p->set(1, b, n, dy);
      p->set(2, m, n, n);
      p->set(3, l, n, n);
      p->set_permuted(1, perm, false);
      p->set_permuted(3, perm, true);
    }
    for (const bool permuted : {false, true})
      for (const bool left : {true, false}) {
        // The host fills the upper triangle only: compare that.
        std::vector<double> got = device.cross_gram(0, 1, permuted, left), expected = host.cross_gram(0, 1, permuted, left);
        const int64_t s = left ? dx : dy;
        for (int64_t i = 0; i < s; ++i)
          for (int64_t j = 0; j < i; ++j) got[static_cast<size_t>(i * s + j)] = expected[static_cast<size_t>(i * s + j)] = 0;
        expect_close(got, expected, left ? "C C^T" : "C^T C");
      }
    for (const bool permuted : {false, true})
      expect_close(device.sandwich_diagonal(2, 3, permuted), host.sandwich_diagonal(2, 3, permuted), "diag(M L M)");
  }
}

namespace {

struct Network {
  std::vector<int64_t> widths;
  std::vector<std::vector<float>> values;  // (n, p) each
  std::vector<std::string> names;
};

Network network(int64_t n, const std::vector<int64_t>& widths, uint64_t seed, const std::string& prefix) {
  Network out;
  for (size_t l = 0; l < widths.size(); ++l) {
    out.widths.push_back(widths[l]);
    out.values.push_back(layer_values(n, widths[l], seed * 100 + l));
    out.names.push_back(prefix + std::to_string(l));
  }
  return out;
}

std::vector<Tensor> batch(const Network& net, int64_t first, int64_t count, Device device) {
  std::vector<Tensor> out;
  for (size_t l = 0; l < net.widths.size(); ++l) {
    const int64_t p = net.widths[l];
    const float* rows = net.values[l].data() + first * p;
    out.push_back(Tensor::from_vector<float>({count, p}, std::vector<float>(rows, rows + count * p)).to(device));
  }
  return out;
}

// The matrices of a comparison fed batches of 128, 128 and 77 examples on `device`.
std::vector<SimilarityMatrix> compare_on(Device device, const Network& a, const Network* b,
                                         const CompareSettings& s) {
  StreamingComparison c(a.names, b ? b->names : std::vector<std::string>{}, s);
  int64_t first = 0;
  for (const int64_t count : {128, 128, 77}) {
    std::vector<Tensor> ta = batch(a, first, count, device), tb;
    if (b) tb = batch(*b, first, count, device);
    c.add(ta, tb);
    first += count;
  }
  return c.result();
}

double tolerance_of(Measure m) {
  switch (m) {
    case Measure::mutual_knn: return 0.0;
    case Measure::cknna: return 1e-10;
    case Measure::pwcca: return 1e-8;
    case Measure::cka: return 1e-5;  // fp32 Gram products on the GPU against the CPU's
    default: return 1e-9;
  }
}

class MeasuresCuda : public test_support::CudaTest {};

}  // namespace

TEST_F(MeasuresCuda, EveryFloat64MeasureAndItsPermutationTestMatchTheCpu) {
  const int64_t n = 333;
  const Network a = network(n, {4097, 300, 10}, 1, "a"), b = network(n, {2100, 40}, 2, "b");
  CompareSettings every;
  every.measures = {Measure::mutual_knn, Measure::cknna, Measure::svcca, Measure::pwcca, Measure::ridge, Measure::cka};
  every.precision = cka::GramPrecision::fp32;
  every.permutations = 19;
  every.seed = 5;
  every.svcca_dims = 8;
  CompareSettings by_variance = every;
  by_variance.measures = {Measure::svcca};
  by_variance.svcca_dims = 0;
  for (const auto& [s, pair] : {std::pair{every, false}, std::pair{every, true}, std::pair{by_variance, true}}) {
    SCOPED_TRACE(fmt::format("{}, SVCCA dims {}", pair ? "A against B" : "A against itself", s.svcca_dims));
    const std::vector<SimilarityMatrix> got = compare_on(gpu(), a, pair ? &b : nullptr, s);
    const std::vector<SimilarityMatrix> expected = compare_on(cpu(), a, pair ? &b : nullptr, s);
    ASSERT_EQ(got.size(), expected.size());
    for (size_t m = 0; m < got.size(); ++m) {
      const Measure measure = got[m].measure;
      SCOPED_TRACE(measure_name(measure));
      ASSERT_EQ(got[m].values.size(), expected[m].values.size());
      for (size_t c = 0; c < got[m].values.size(); ++c) {
        if (std::isnan(expected[m].values[c])) {
          EXPECT_TRUE(std::isnan(got[m].values[c])) << "cell " << c;
          continue;
        }
        EXPECT_NEAR(got[m].values[c], expected[m].values[c], tolerance_of(measure)) << "cell " << c;
      }
      EXPECT_EQ(got[m].kept_dims, expected[m].kept_dims);
      ASSERT_TRUE(got[m].permutation && expected[m].permutation);
      if (measure != Measure::cka) {
        const bool products_on_gpu = measure == Measure::svcca || measure == Measure::pwcca || measure == Measure::ridge;
        EXPECT_EQ(got[m].precision, products_on_gpu ? "cuda fp64" : "cuda fp64 (pair terms: cpu fp64)");
        EXPECT_EQ(got[m].permutation->p_value, expected[m].permutation->p_value);
      }
      // CKA's null comes from the float64 Grams on both sides.
      for (size_t c = 0; c < got[m].values.size(); ++c)
        EXPECT_NEAR(got[m].permutation->null_mean[c], expected[m].permutation->null_mean[c],
                    measure == Measure::cka ? 1e-10 : std::max(tolerance_of(measure), 1e-12))
            << "null mean, cell " << c;
    }
  }
}

TEST_F(MeasuresCuda, NanFeaturesAreNamed) {
  const int64_t n = 64;
  Network a = network(n, {50, 30}, 3, "a");
  a.values[1][static_cast<size_t>(9 * 30 + 4)] = NAN;
  CompareSettings s;
  s.measures = {Measure::mutual_knn};
  StreamingComparison c(a.names, {}, s);
  std::vector<Tensor> ta = batch(a, 0, n, gpu()), none;
  const std::string error = test_support::error_of([&] { c.add(ta, none); });
  EXPECT_NE(error.find("a1"), std::string::npos) << error;
  EXPECT_NE(error.find("NaN feature (example 9, feature 4)"), std::string::npos) << error;
}

#else

TEST(CudaDeviceGrams, NeedsTheCudaBuild) { GTEST_SKIP() << "convlab was built without CUDA"; }

#endif  // CONVLAB_WITH_CUDA
