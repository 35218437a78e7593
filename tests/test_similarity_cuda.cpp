// The CUDA RSA and Procrustes accumulators against their CPU twins on the same batches of
// fresh random features, at real widths (a 20,000-feature layer: ten blocks of 2048 and a
// ragged one; layers above and below the batch size, so that both Procrustes forms run) and
// tiny ones, in self and cross mode; numerical range; NaN features. Skips when no GPU answers.
//
// Tolerances, absolute: RSA 1e-5 and Procrustes 1e-5 in strict fp32 Gram products (the
// reference sees the same f32 features; the Grams differ by f32 rounding, which moves the
// RDMs' near-ties and the small eigenvalues a little); 3e-5 in TF32
// (tests/support/tf32_tolerances.h).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "framework/backend/cuda_device.h"
#include "framework/core/tensor.h"
#include "framework/procrustes/procrustes.h"
#include "framework/rsa/rsa.h"
#include "tests/support/error_of.h"
#include "tests/support/tf32_tolerances.h"

#if CONVLAB_WITH_CUDA
#include "framework/backend/cuda/cuda_context.h"
#include "tests/support/cuda_test.h"
#include "framework/procrustes/cuda/cuda_procrustes.h"
#include "framework/rsa/cuda/cuda_rsa.h"

using namespace convlab;

namespace {

struct Layers {
  std::vector<int64_t> widths;
  std::vector<std::vector<float>> values;  // (n, p) each
  std::vector<std::string> names;
};

// Layers that mix 5 shared latent factors, with a ReLU, an offset and noise.
Layers make_layers(int64_t n, const std::vector<int64_t>& widths, uint64_t seed, const std::string& prefix) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> z(static_cast<size_t>(n * 5));
  std::mt19937_64 shared(7);
  for (float& v : z) v = std::normal_distribution<float>(0.0f, 1.0f)(shared);
  Layers out;
  for (size_t l = 0; l < widths.size(); ++l) {
    const int64_t p = widths[l];
    std::vector<float> w(static_cast<size_t>(5 * p));
    for (float& v : w) v = normal(rng);
    std::vector<float> x(static_cast<size_t>(n * p));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < p; ++c) {
        float m = 0.0f;
        for (int64_t f = 0; f < 5; ++f) m += z[i * 5 + f] * w[f * p + c];
        x[i * p + c] = std::max(m + 0.3f * normal(rng), 0.0f) + 1.0f;
      }
    out.widths.push_back(p);
    out.values.push_back(std::move(x));
    out.names.push_back(prefix + std::to_string(l));
  }
  return out;
}

const std::vector<int64_t> kBatches = {64, 64, 37};

std::vector<cka::FeatureView> host_views(const Layers& layers, int64_t first, int64_t count) {
  std::vector<cka::FeatureView> out;
  for (size_t l = 0; l < layers.widths.size(); ++l)
    out.emplace_back(layers.values[l].data() + first * layers.widths[l], count, layers.widths[l], layers.names[l]);
  return out;
}

std::vector<Tensor> upload(const Layers& layers, int64_t first, int64_t count, Device device) {
  std::vector<Tensor> out;
  for (size_t l = 0; l < layers.widths.size(); ++l) {
    const float* rows = layers.values[l].data() + first * layers.widths[l];
    out.push_back(Tensor::from_vector<float>({count, layers.widths[l]},
                                             std::vector<float>(rows, rows + count * layers.widths[l]))
                      .to(device));
  }
  return out;
}

std::vector<cka::DeviceFeatureView> device_views(const std::vector<Tensor>& t, const Layers& layers) {
  std::vector<cka::DeviceFeatureView> out;
  for (size_t l = 0; l < t.size(); ++l) out.emplace_back(t[l], layers.names[l]);
  return out;
}

// Feeds the same batches to a CPU and a CUDA accumulator of one kind.
template <class Cpu, class Gpu>
void feed(Cpu& cpu_acc, Gpu& gpu_acc, const Layers& a, const Layers* b, Device device) {
  int64_t first = 0;
  for (int64_t count : kBatches) {
    const std::vector<Tensor> ta = upload(a, first, count, device);
    if (b) {
      const std::vector<Tensor> tb = upload(*b, first, count, device);
      cpu_acc.add_batch(host_views(a, first, count), host_views(*b, first, count));
      gpu_acc.add_batch(device_views(ta, a), device_views(tb, *b));
    } else {
      cpu_acc.add_batch(host_views(a, first, count));
      gpu_acc.add_batch(device_views(ta, a));
    }
    first += count;
  }
}

void expect_close(const std::vector<double>& got, const std::vector<double>& ref, double tolerance,
                  const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(ref[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << what << " " << i;
      continue;
    }
    EXPECT_NEAR(got[i], ref[i], tolerance) << what << " entry " << i;
  }
}

class SimilarityCuda : public test_support::CudaTest {};

}  // namespace

TEST_F(SimilarityCuda, RsaMatchesTheCpu) {
  const int64_t n = 165;
  const Layers a = make_layers(n, {20000, 300, 10}, 1, "a"), b = make_layers(n, {2100, 40}, 2, "b");
  for (const bool pair : {false, true}) {
    rsa::RsaAccumulator cpu_acc(3, pair ? 2 : 0);
    rsa::CudaRsaAccumulator gpu_acc(cuda(), 3, pair ? 2 : 0, cka::GramPrecision::fp32);
    feed(cpu_acc, gpu_acc, a, pair ? &b : nullptr, gpu());
    expect_close(gpu_acc.result(), cpu_acc.result(), 1e-5, pair ? "A vs B" : "A vs A");
    EXPECT_EQ(gpu_acc.batches(), 3);
  }
}

TEST_F(SimilarityCuda, ProcrustesMatchesTheCpuInBothForms) {
  const int64_t n = 165;  // batches of 64: widths 20000 and 300 take the Gram form, 40 and 10 the feature form
  const Layers a = make_layers(n, {20000, 300, 10}, 3, "a"), b = make_layers(n, {40, 2100}, 4, "b");
  for (const bool pair : {false, true}) {
    procrustes::ProcrustesAccumulator cpu_acc(3, pair ? 2 : 0);
    procrustes::CudaProcrustesAccumulator gpu_acc(cuda(), 3, pair ? 2 : 0, cka::GramPrecision::fp32);
    feed(cpu_acc, gpu_acc, a, pair ? &b : nullptr, gpu());
    expect_close(gpu_acc.result(), cpu_acc.result(), 1e-5, pair ? "A vs B" : "A vs A");
    EXPECT_EQ(gpu_acc.forms(), cpu_acc.forms());
  }
}

// In TF32 (the CKA default, RSA's and Procrustes's on request) both stay within the bounds of
// tests/support/tf32_tolerances.h of the CPU, which computes in fp32: the TF32 rounding of the
// operands, bounded by a CPU simulation (test_tf32_bound.cpp), plus the GPU's fp32 sums.
TEST_F(SimilarityCuda, RsaAndProcrustesInTf32StayWithinTheirBounds) {
  const int64_t n = 165;
  const Layers a = make_layers(n, {20000, 300, 10}, 7, "a"), b = make_layers(n, {2100, 40}, 8, "b");
  for (const bool pair : {false, true}) {
    rsa::RsaAccumulator cpu_rsa(3, pair ? 2 : 0);
    rsa::CudaRsaAccumulator gpu_rsa(cuda(), 3, pair ? 2 : 0, cka::GramPrecision::tf32);
    feed(cpu_rsa, gpu_rsa, a, pair ? &b : nullptr, gpu());
    expect_close(gpu_rsa.result(), cpu_rsa.result(), test_support::kTf32RsaTolerance, pair ? "RSA A vs B" : "RSA");
    procrustes::ProcrustesAccumulator cpu_pro(3, pair ? 2 : 0);
    procrustes::CudaProcrustesAccumulator gpu_pro(cuda(), 3, pair ? 2 : 0, cka::GramPrecision::tf32);
    feed(cpu_pro, gpu_pro, a, pair ? &b : nullptr, gpu());
    expect_close(gpu_pro.result(), cpu_pro.result(), test_support::kTf32ProcrustesTolerance,
                 pair ? "Procrustes A vs B" : "Procrustes");
  }
}

TEST_F(SimilarityCuda, FeaturesOfAnyScale) {
  const int64_t n = 165;
  Layers a = make_layers(n, {3000, 20}, 5, "a");
  rsa::CudaRsaAccumulator rsa_base(cuda(), 2, 0, cka::GramPrecision::fp32);
  procrustes::CudaProcrustesAccumulator pro_base(cuda(), 2, 0, cka::GramPrecision::fp32);
  rsa::RsaAccumulator unused_rsa(2, 0);
  procrustes::ProcrustesAccumulator unused_pro(2, 0);
  feed(unused_rsa, rsa_base, a, nullptr, gpu());
  feed(unused_pro, pro_base, a, nullptr, gpu());
  for (const float s : {1e-30f, 1e30f}) {
    Layers scaled = a;
    for (auto& layer : scaled.values)
      for (float& v : layer) v *= s;
    rsa::CudaRsaAccumulator r(cuda(), 2, 0, cka::GramPrecision::fp32);
    procrustes::CudaProcrustesAccumulator p(cuda(), 2, 0, cka::GramPrecision::fp32);
    rsa::RsaAccumulator cpu_r(2, 0);
    procrustes::ProcrustesAccumulator cpu_p(2, 0);
    feed(cpu_r, r, scaled, nullptr, gpu());
    feed(cpu_p, p, scaled, nullptr, gpu());
    expect_close(r.result(), rsa_base.result(), 1e-5, "RSA scaled");
    expect_close(p.result(), pro_base.result(), 1e-5, "Procrustes scaled");
  }
}

// A NaN or infinity in a Gram-form layer (3000 features > 20 examples: its Gram goes to
// cuSOLVER) or a feature-form one (50 features) is reported by name before any batch is kept,
// never as a cuSOLVER failure; the accumulators then take a clean batch as if nothing happened.
TEST_F(SimilarityCuda, NonFiniteFeaturesThrow) {
  const Layers clean = make_layers(20, {50, 3000}, 6, "a");
  for (const float bad : {NAN, INFINITY}) {
    for (const size_t layer : {size_t{0}, size_t{1}}) {
      Layers a = clean;
      const int64_t width = layer == 0 ? 50 : 3000;
      a.values[layer][5 * width + 17] = bad;
      SCOPED_TRACE(fmt::format("{} in layer {}", bad, layer));
      const std::vector<Tensor> t = upload(a, 0, 20, gpu());
      rsa::CudaRsaAccumulator r(cuda(), 2, 0, cka::GramPrecision::fp32);
      procrustes::CudaProcrustesAccumulator p(cuda(), 2, 0, cka::GramPrecision::fp32);
      const std::string rsa_error = test_support::error_of([&] { r.add_batch(device_views(t, a)); });
      const std::string procrustes_error = test_support::error_of([&] { p.add_batch(device_views(t, a)); });
      const std::string layer_name = a.names[layer];
      for (const std::string& error : {rsa_error, procrustes_error}) {
        EXPECT_NE(error.find("has a NaN or infinite feature"), std::string::npos) << error;
        EXPECT_NE(error.find(layer_name), std::string::npos) << error;
        EXPECT_EQ(error.find("cuSOLVER"), std::string::npos) << error;
      }
      EXPECT_EQ(r.batches(), 0);
      EXPECT_EQ(p.batches(), 0);
      const std::vector<Tensor> fine = upload(clean, 0, 20, gpu());
      p.add_batch(device_views(fine, clean));
      r.add_batch(device_views(fine, clean));
      EXPECT_EQ(p.batches(), 1);
      EXPECT_EQ(r.batches(), 1);
    }
  }
}

// The largest Procrustes batch (procrustes::kMaxExamples) is within what cuSOLVER's Xsyevd
// takes: its workspace query answers at that size.
TEST_F(SimilarityCuda, CusolverTakesTheLargestProcrustesBatch) {
  const int64_t k = procrustes::kMaxExamples;
  Tensor a = Tensor::empty({k, k}, DType::f64, gpu());  // 3.2 GB, never filled: a query reads none of it
  Tensor w = Tensor::empty({k}, DType::f64, gpu());
  size_t device_bytes = 0, host_bytes = 0;
  EXPECT_EQ(cusolverDnXsyevd_bufferSize(cuda().cusolver(), cuda().cusolver_params(), CUSOLVER_EIG_MODE_VECTOR,
                                        CUBLAS_FILL_MODE_UPPER, k, CUDA_R_64F, a.data<double>(), k, CUDA_R_64F,
                                        w.data<double>(), CUDA_R_64F, &device_bytes, &host_bytes),
            CUSOLVER_STATUS_SUCCESS);
  EXPECT_GT(device_bytes, 0u);
}

#else

TEST(SimilarityCuda, NeedsTheCudaBuild) { GTEST_SKIP() << "convlab was built without CUDA"; }

#endif  // CONVLAB_WITH_CUDA
