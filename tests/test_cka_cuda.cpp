// The CUDA minibatch CKA (framework/cka/cuda) against the CPU one, on fresh random features of
// synthetic "networks" whose layers share latent factors, so that CKA values spread over
// (0, 1). Skips when no GPU answers.
//
// Reference: CkaAccumulator fed float64 copies of the same f32 features, so every product,
// median and centring is float64. Tolerances, absolute on CKA (and on HSIC relative to
// sqrt(HSIC_ii HSIC_jj), the same scale):
// - 1e-4 with TF32 Gram products (operands rounded to 10 mantissa bits);
// - 1e-6 in strict fp32 (f32 sums over blocks of at most 2048 features, then f64).
// Layers: 20,000 features (ten blocks of 2048 and a last one of 1,568), 2,100 (a last block
// of 52, below kTf32MinColumns), 300 and 10; batches of 64, 64 and a ragged 37.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "framework/analysis/compare.h"
#include "framework/analysis/feature_source.h"
#include "framework/backend/cuda_device.h"
#include "framework/cka/accumulator.h"
#include "framework/core/tensor.h"
#include "framework/train/device_dataset.h"
#include "models/all_cnn_c.h"

#if CONVLAB_WITH_CUDA
#include "framework/backend/cuda/cuda_context.h"
#include "framework/cka/cuda/cuda_accumulator.h"
#endif

#if CONVLAB_WITH_CUDA

using namespace convlab;

namespace {

// The features of all n examples at each layer of one network, (n, p_l) f32 row-major. Only
// the test holds all of them; the accumulators see one batch at a time.
struct Network {
  std::vector<int64_t> widths;
  std::vector<std::vector<float>> layers;
  std::vector<std::string> names;
};

enum class Activation { relu, tanh, identity, constant };

struct LayerSpec {
  int64_t width;
  Activation activation;
  double noise;  // standard deviation of noise added to the latent mixture
};

// Layer l = activation(Z W_l + noise), with Z (n, 6) latent factors that every layer of both
// networks shares and W_l (6, p) its own mixing. ReLU layers get a positive offset so that
// their columns have large means, which the column centring must remove.
Network make_network(const std::vector<float>& z, int64_t n, const std::vector<LayerSpec>& specs, uint64_t seed,
                     const std::string& prefix) {
  constexpr int64_t kLatent = 6;
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Network net;
  for (size_t l = 0; l < specs.size(); ++l) {
    const LayerSpec& s = specs[l];
    const int64_t p = s.width;
    std::vector<float> w(static_cast<size_t>(kLatent * p));  // (6, p)
    for (float& v : w) v = normal(rng);
    std::vector<float> x(static_cast<size_t>(n * p));  // (n, p)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < p; ++c) {
        float m = 0.0f;
        for (int64_t f = 0; f < kLatent; ++f) m += z[i * kLatent + f] * w[f * p + c];
        m += static_cast<float>(s.noise) * normal(rng);
        float v = m;
        switch (s.activation) {
          case Activation::relu: v = std::max(m + 0.5f, 0.0f) + 3.0f; break;
          case Activation::tanh: v = std::tanh(0.5f * m); break;
          case Activation::identity: break;
          case Activation::constant: v = 2.5f; break;
        }
        x[i * p + c] = v;
      }
    net.widths.push_back(p);
    net.layers.push_back(std::move(x));
    net.names.push_back(prefix + std::to_string(l));
  }
  return net;
}

std::vector<float> latent(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> z(static_cast<size_t>(n * 6));
  for (float& v : z) v = normal(rng);
  return z;
}

const std::vector<int64_t> kBatches = {64, 64, 37};

int64_t total(const std::vector<int64_t>& batches) {
  int64_t n = 0;
  for (int64_t b : batches) n += b;
  return n;
}

struct Result {
  std::vector<double> cka;   // (L, M)
  std::vector<double> hsic;  // (R, R)
};

// The float64 CPU reference: f64 copies of each batch's f32 features.
Result cpu_reference(const Network& a, const Network* b, const cka::Options& o, const std::vector<int64_t>& batches) {
  cka::CkaAccumulator acc = b ? cka::CkaAccumulator(static_cast<int64_t>(a.layers.size()),
                                                    static_cast<int64_t>(b->layers.size()), o)
                              : cka::CkaAccumulator(static_cast<int64_t>(a.layers.size()), o);
  int64_t first = 0;
  for (int64_t count : batches) {
    auto copies = [&](const Network& net, std::vector<std::vector<double>>& store) {
      std::vector<cka::FeatureView> views;
      for (size_t l = 0; l < net.layers.size(); ++l) {
        const int64_t p = net.widths[l];
        const float* rows = net.layers[l].data() + first * p;
        store.emplace_back(rows, rows + count * p);
      }
      for (size_t l = 0; l < net.layers.size(); ++l) views.emplace_back(store[l], count, net.widths[l], net.names[l]);
      return views;
    };
    std::vector<std::vector<double>> store_a, store_b;
    const auto va = copies(a, store_a);
    if (b)
      acc.add_batch(va, copies(*b, store_b));
    else
      acc.add_batch(va);
    first += count;
  }
  return {acc.result(), acc.mean_hsic()};
}

// Entries equal within `tolerance`, NaN where the reference is NaN; returns the largest error.
double expect_close(const std::vector<double>& got, const std::vector<double>& ref, double tolerance,
                    const std::string& what) {
  EXPECT_EQ(got.size(), ref.size()) << what;
  double worst = 0.0;
  for (size_t i = 0; i < got.size() && i < ref.size(); ++i) {
    if (std::isnan(ref[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << what << " entry " << i << ": " << got[i] << ", expected NaN";
      continue;
    }
    EXPECT_NEAR(got[i], ref[i], tolerance) << what << " entry " << i;
    worst = std::max(worst, std::abs(got[i] - ref[i]));
  }
  return worst;
}

// HSIC (R, R) against the reference, each entry on the scale sqrt(HSIC_ii HSIC_jj).
void expect_close_hsic(const std::vector<double>& got, const std::vector<double>& ref, double tolerance,
                       const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  const int64_t r = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(ref.size()))));
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < r; ++j) {
      const double scale = std::sqrt(std::abs(ref[i * r + i] * ref[j * r + j]));
      if (scale == 0.0) continue;
      EXPECT_NEAR(got[i * r + j] / scale, ref[i * r + j] / scale, tolerance)
          << what << " HSIC (" << i << ", " << j << ")";
    }
}

std::string describe(const cka::Options& o, bool two_networks) {
  return o.kernel.str() + " " + cka::estimator_name(o.estimator) + (two_networks ? " A vs B" : " A vs A");
}

std::vector<cka::Options> all_settings() {
  std::vector<cka::Options> out;
  for (const cka::Kernel& k : {cka::Kernel::linear(), cka::Kernel::rbf(1.0), cka::Kernel::rbf(0.6)})
    for (const cka::Estimator e : {cka::Estimator::biased, cka::Estimator::debiased}) out.push_back({k, e});
  return out;
}

class CkaCuda : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU";
    context_ = create_cuda_context(0);
  }
  Device gpu() { return Device(context_.get()); }

  std::unique_ptr<DeviceContext> context_;
};

// The same batches through the CUDA accumulator: each batch's f32 features are uploaded as
// (k, p) CUDA tensors and dropped after add_batch.
Result gpu_result(CudaContext& context, const Network& a, const Network* b, const cka::Options& o,
                  cka::GramPrecision precision, const std::vector<int64_t>& batches) {
  auto acc = b ? std::make_unique<cka::CudaCkaAccumulator>(context, static_cast<int64_t>(a.layers.size()),
                                                           static_cast<int64_t>(b->layers.size()), o, precision)
               : std::make_unique<cka::CudaCkaAccumulator>(context, static_cast<int64_t>(a.layers.size()), o,
                                                           precision);
  int64_t first = 0;
  for (int64_t count : batches) {
    auto upload = [&](const Network& net, std::vector<Tensor>& store) {
      for (size_t l = 0; l < net.layers.size(); ++l) {
        const int64_t p = net.widths[l];
        const float* rows = net.layers[l].data() + first * p;
        store.push_back(Tensor::from_vector<float>({count, p}, std::vector<float>(rows, rows + count * p))
                            .to(Device(&context)));
      }
      std::vector<cka::DeviceFeatureView> views;
      for (size_t l = 0; l < net.layers.size(); ++l) views.emplace_back(store[l], net.names[l]);
      return views;
    };
    std::vector<Tensor> store_a, store_b;
    const auto va = upload(a, store_a);
    if (b)
      acc->add_batch(va, upload(*b, store_b));
    else
      acc->add_batch(va);
    first += count;
  }
  EXPECT_EQ(acc->batches(), static_cast<int64_t>(batches.size()));
  EXPECT_EQ(acc->examples(), total(batches));
  return {acc->result(), acc->mean_hsic()};
}

CudaContext& cuda(std::unique_ptr<DeviceContext>& context) { return *static_cast<CudaContext*>(context.get()); }

// Network A: four layers, wide to narrow; network B: two, so that A vs B is not square.
struct TwoNetworks {
  Network a, b;
};

TwoNetworks two_networks(uint64_t seed) {
  const int64_t n = total(kBatches);
  const std::vector<float> z = latent(n, seed);
  return {make_network(z, n,
                       {{20000, Activation::relu, 1.0},
                        {2100, Activation::tanh, 0.5},
                        {300, Activation::identity, 2.0},
                        {10, Activation::relu, 0.3}},
                       seed + 1, "a"),
          make_network(z, n, {{10, Activation::tanh, 1.0}, {3000, Activation::relu, 0.7}}, seed + 2, "b")};
}

void run_parity(std::unique_ptr<DeviceContext>& context, cka::GramPrecision precision, double tolerance) {
  const TwoNetworks nets = two_networks(precision == cka::GramPrecision::tf32 ? 101 : 202);
  for (const cka::Options& o : all_settings())
    for (const bool pair : {false, true}) {
      const std::string what = describe(o, pair);
      const Network* b = pair ? &nets.b : nullptr;
      const Result ref = cpu_reference(nets.a, b, o, kBatches);
      const Result got = gpu_result(cuda(context), nets.a, b, o, precision, kBatches);
      const double worst = expect_close(got.cka, ref.cka, tolerance, what);
      expect_close_hsic(got.hsic, ref.hsic, tolerance, what);
      std::printf("%s, %s: max |CKA - float64 CPU| = %.3g\n", what.c_str(),
                  precision == cka::GramPrecision::tf32 ? "tf32" : "fp32", worst);
      // The inputs are not degenerate: CKA spreads over (0, 1) away from both ends.
      double lo = 1.0, hi = 0.0;
      for (double v : ref.cka) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
      EXPECT_LT(lo, 0.9) << what;
      EXPECT_GT(hi, 0.1) << what;
    }
}

}  // namespace

TEST_F(CkaCuda, MatchesTheFloat64CpuReferenceWithTf32) { run_parity(context_, cka::GramPrecision::tf32, 1e-4); }

TEST_F(CkaCuda, MatchesTheFloat64CpuReferenceInStrictFp32) { run_parity(context_, cka::GramPrecision::fp32, 1e-6); }

TEST_F(CkaCuda, SelfSimilarityIsOneOnTheDiagonal) {
  const TwoNetworks nets = two_networks(7);
  for (const cka::Options& o : all_settings()) {
    const Result got = gpu_result(cuda(context_), nets.a, nullptr, o, cka::GramPrecision::fp32, kBatches);
    const int64_t l = static_cast<int64_t>(nets.a.layers.size());
    for (int64_t i = 0; i < l; ++i) EXPECT_NEAR(got.cka[i * l + i], 1.0, 1e-12) << describe(o, false) << " " << i;
    for (int64_t i = 0; i < l; ++i)
      for (int64_t j = 0; j < l; ++j)  // nothing mirrored, but G G^T is symmetric
        EXPECT_NEAR(got.cka[i * l + j], got.cka[j * l + i], 1e-12) << describe(o, false);
  }
}

TEST_F(CkaCuda, ConstantLayerGivesNanAsOnTheCpu) {
  const int64_t n = total(kBatches);
  const std::vector<float> z = latent(n, 31);
  const Network a = make_network(
      z, n, {{700, Activation::relu, 1.0}, {2500, Activation::constant, 0.0}, {10, Activation::tanh, 0.5}}, 32, "a");
  const Network b = make_network(z, n, {{40, Activation::constant, 0.0}, {90, Activation::identity, 1.0}}, 33, "b");
  for (const cka::Options& o : all_settings())
    for (const bool pair : {false, true}) {
      const Network* other = pair ? &b : nullptr;
      const Result ref = cpu_reference(a, other, o, kBatches);
      const Result got = gpu_result(cuda(context_), a, other, o, cka::GramPrecision::tf32, kBatches);
      expect_close(got.cka, ref.cka, 1e-4, describe(o, pair));
      const int64_t m = pair ? 2 : 3;
      for (int64_t j = 0; j < m; ++j) EXPECT_TRUE(std::isnan(got.cka[1 * m + j])) << describe(o, pair);
      if (pair)
        for (int64_t i = 0; i < 3; ++i) EXPECT_TRUE(std::isnan(got.cka[i * m + 0])) << describe(o, pair);
      // The constant layer's self-HSIC is exactly zero, not rounding noise.
      EXPECT_EQ(got.hsic[1 * (pair ? 5 : 3) + 1], 0.0) << describe(o, pair);
    }
}

TEST_F(CkaCuda, NonFiniteFeaturesThrowAndLeaveTheSumAlone) {
  const int64_t n = 40;
  const Network net = make_network(latent(n, 41), n, {{50, Activation::relu, 1.0}, {3000, Activation::tanh, 1.0}},
                                   42, "layer");
  const cka::Options o{cka::Kernel::rbf(1.0), cka::Estimator::debiased};
  cka::CudaCkaAccumulator acc(cuda(context_), 2, o, cka::GramPrecision::fp32);
  Network bad = net;
  bad.layers[1][17 * 3000 + 2999] = NAN;  // the last column of the last block
  const Device device = gpu();
  std::vector<Tensor> t;
  for (size_t l = 0; l < 2; ++l)
    t.push_back(Tensor::from_vector<float>({n, bad.widths[l]}, bad.layers[l]).to(device));
  EXPECT_THROW(acc.add_batch({cka::DeviceFeatureView(t[0], "x"), cka::DeviceFeatureView(t[1], "y")}), Error);
  EXPECT_EQ(acc.batches(), 0);
  std::vector<Tensor> good;
  for (size_t l = 0; l < 2; ++l)
    good.push_back(Tensor::from_vector<float>({n, net.widths[l]}, net.layers[l]).to(device));
  acc.add_batch({cka::DeviceFeatureView(good[0]), cka::DeviceFeatureView(good[1])});
  expect_close(acc.result(), cpu_reference(net, nullptr, o, {n}).cka, 1e-6, "after a rejected batch");
}

TEST_F(CkaCuda, RejectsMismatchedBatches) {
  cka::CudaCkaAccumulator acc(cuda(context_), 2, {cka::Kernel::linear(), cka::Estimator::debiased},
                              cka::GramPrecision::tf32);
  const Tensor x = Tensor::zeros({5, 3}, DType::f32, cpu()).to(gpu());
  const Tensor y = Tensor::zeros({6, 3}, DType::f32, cpu()).to(gpu());
  const Tensor tiny = Tensor::zeros({3, 3}, DType::f32, cpu()).to(gpu());
  EXPECT_THROW(acc.add_batch({cka::DeviceFeatureView(x), cka::DeviceFeatureView(y)}), Error);        // rows differ
  EXPECT_THROW(acc.add_batch({cka::DeviceFeatureView(tiny), cka::DeviceFeatureView(tiny)}), Error);  // debiased: k < 4
  EXPECT_THROW(acc.add_batch({cka::DeviceFeatureView(x)}), Error);                                   // one layer of two
  EXPECT_THROW(acc.result(), Error);                                                                 // no batch yet
}

// compare_layers with a model on the GPU keeps the features there and uses the CUDA
// accumulator; with fp32 convolutions it matches the same model on the CPU within CKA's TF32
// bound (its Gram products' default precision).
TEST_F(CkaCuda, CompareLayersOfAModelOnTheGpuMatchesTheCpu) {
  cuda(context_).set_allow_tf32(false);
  models::AllCnnCOptions o;
  o.width1 = 8;
  o.width2 = 16;
  o.seed = 5;
  models::AllCnnC on_cpu(o), on_gpu(o);
  on_gpu.to(gpu());
  ImageSet set;
  const int64_t n = 23;
  set.images.resize(static_cast<size_t>(n * 3072));
  set.labels.assign(static_cast<size_t>(n), 1);
  std::mt19937 rng(9);
  for (uint8_t& v : set.images) v = static_cast<uint8_t>(rng() & 0xff);
  const DeviceImageSet images_cpu = upload(set, cpu());
  const DeviceImageSet images_gpu = upload(set, gpu());
  ModelFeatureSource source_cpu(on_cpu, images_cpu, "cpu"), source_gpu(on_gpu, images_gpu, "gpu");
  EXPECT_TRUE(source_gpu.device() == gpu());
  for (const cka::Estimator e : {cka::Estimator::biased, cka::Estimator::debiased}) {
    std::vector<cka::Options> settings;
    for (const cka::Options& s : all_settings())
      if (s.estimator == e) settings.push_back(s);
    // Batches of 8, 8 and a ragged 7.
    const std::vector<CkaMatrix> ref = compare_layers(source_cpu, nullptr, settings, 8);
    const std::vector<CkaMatrix> got = compare_layers(source_gpu, nullptr, settings, 8);
    ASSERT_EQ(ref.size(), got.size());
    for (size_t s = 0; s < ref.size(); ++s) {
      EXPECT_EQ(got[s].examples, n);
      expect_close(got[s].values, ref[s].values, 1e-4, describe(settings[s], false));
    }
  }
}

// Features of 1e-30 and 1e30: f32 products would underflow or overflow without the range
// scaling; the GPU must give the CKA of the unscaled features, as the CPU does.
TEST_F(CkaCuda, FeaturesOfAnyScaleGiveTheSameCka) {
  TwoNetworks nets = two_networks(303);
  const cka::Options o{cka::Kernel::linear(), cka::Estimator::debiased};
  const Result base = gpu_result(cuda(context_), nets.a, &nets.b, o, cka::GramPrecision::fp32, kBatches);
  for (const float s : {1e-30f, 1e30f}) {
    TwoNetworks scaled = nets;
    for (auto* net : {&scaled.a, &scaled.b})
      for (auto& layer : net->layers)
        for (float& v : layer) v *= s;
    const Result got = gpu_result(cuda(context_), scaled.a, &scaled.b, o, cka::GramPrecision::fp32, kBatches);
    expect_close(got.cka, base.cka, 1e-6, "scaled by " + std::to_string(s));
  }
}

// Linear and RBF at once: one linear Gram per layer and batch, the same values as one
// accumulator per kernel.
TEST_F(CkaCuda, SeveralKernelsShareEachLayersLinearGram) {
  const TwoNetworks nets = two_networks(404);
  cka::CudaCkaAccumulator both(cuda(context_), 4, 0, {cka::Kernel::linear(), cka::Kernel::rbf(1.0)},
                               cka::Estimator::debiased, cka::GramPrecision::fp32);
  const Device device = gpu();
  int64_t first = 0;
  for (int64_t count : kBatches) {
    std::vector<Tensor> store;
    std::vector<cka::DeviceFeatureView> views;
    for (size_t l = 0; l < 4; ++l) {
      const int64_t p = nets.a.widths[l];
      const float* rows = nets.a.layers[l].data() + first * p;
      store.push_back(Tensor::from_vector<float>({count, p}, std::vector<float>(rows, rows + count * p)).to(device));
    }
    for (size_t l = 0; l < 4; ++l) views.emplace_back(store[l], nets.a.names[l]);
    both.add_batch(views);
    first += count;
  }
  EXPECT_EQ(both.linear_grams(), 4 * static_cast<int64_t>(kBatches.size()));
  const cka::Options linear{cka::Kernel::linear(), cka::Estimator::debiased};
  const cka::Options rbf{cka::Kernel::rbf(1.0), cka::Estimator::debiased};
  expect_close(both.result(0), cpu_reference(nets.a, nullptr, linear, kBatches).cka, 1e-6, "linear");
  expect_close(both.result(1), cpu_reference(nets.a, nullptr, rbf, kBatches).cka, 1e-6, "rbf");
}

// Needs no GPU: the view checks the tensor before anything runs on a device.
TEST(CkaCudaViews, RejectHostAndNonF32Tensors) {
  EXPECT_THROW(cka::DeviceFeatureView(Tensor::zeros({4, 3}, DType::f32, cpu()), "host"), Error);
  EXPECT_THROW(cka::DeviceFeatureView(Tensor(), "empty"), Error);
}

#else

TEST(CkaCuda, NeedsTheCudaBuild) { GTEST_SKIP() << "convlab was built without CUDA"; }

#endif  // CONVLAB_WITH_CUDA
