// The fully connected layer: gradients against finite differences in f64, the module's
// initialisation, shape errors, and CPU-vs-CUDA parity of its four backend slots (skipped
// without a GPU).
//
// Parity tolerances, as ||gpu - ref|| / ||ref|| against a float64 CPU reference: 2e-3 with
// TF32 (operands cut to 10 mantissa bits), 1e-5 in strict fp32 (fp32 rounding of sums over
// up to a few hundred products); the bias gradient, a double sum on both devices, 1e-6 of
// the largest magnitude.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "framework/backend/backend.h"
#include "framework/backend/cuda_device.h"
#include "framework/nn/layers.h"
#include "framework/ops/ops.h"
#include "tests/support/gradient_check.h"

#if CONVLAB_WITH_CUDA
#include "framework/backend/cuda/cuda_context.h"
#endif

using namespace convlab;
using test_support::check_gradients;
using test_support::random_tensor;

TEST(LinearGradient, InputWeightAndBias) {
  Variable x(random_tensor({5, 7}, 1), true);
  Variable w(random_tensor({3, 7}, 2), true);
  Variable b(random_tensor({3}, 3), true);
  const auto report = check_gradients([&] { return ops::linear(x, w, &b); }, {&x, &w, &b});
  EXPECT_TRUE(report.ok) << report.message;
  EXPECT_EQ(report.checked, 35 + 21 + 3);
}

TEST(LinearGradient, WithoutBiasAndOneExample) {
  Variable x(random_tensor({1, 4}, 4), true);
  Variable w(random_tensor({6, 4}, 5), true);
  const auto report = check_gradients([&] { return ops::linear(x, w, nullptr); }, {&x, &w});
  EXPECT_TRUE(report.ok) << report.message;
  EXPECT_EQ(report.checked, 4 + 24);
}

TEST(LinearGradient, InsideAGraph) {
  // Pooled conv features into the classifier, as a ResNet ends: the gradient reaches the conv.
  Variable x(random_tensor({3, 2, 4, 4}, 6), true);
  Variable k(random_tensor({5, 2, 3, 3}, 7), true);
  Variable w(random_tensor({4, 5}, 8), true);
  Variable b(random_tensor({4}, 9), true);
  const Tensor labels = Tensor::from_vector<int32_t>({3}, {0, 3, 1});
  const auto report = check_gradients(
      [&] { return ops::softmax_cross_entropy(ops::linear(ops::global_avg_pool(ops::conv2d(x, k, nullptr, {})), w, &b), labels); },
      {&x, &k, &w, &b});
  EXPECT_TRUE(report.ok) << report.message;
}

TEST(Linear, ForwardIsXWTransposePlusBias) {
  const Tensor x = Tensor::from_vector<double>({2, 3}, {1, 2, 3, -1, 0, 2});
  const Tensor w = Tensor::from_vector<double>({2, 3}, {1, 0, -1, 0.5, 0.5, 0.5});
  const Tensor b = Tensor::from_vector<double>({2}, {10, 20});
  Tensor y = Tensor::empty({2, 2}, DType::f64, cpu());
  cpu_backend().linear_forward(x, w, &b, y);
  EXPECT_EQ(y.to_vector<double>(), (std::vector<double>{1 - 3 + 10, 3 + 20, -1 - 2 + 10, 0.5 + 20}));
}

TEST(Linear, ModuleInitialisationAndNames) {
  nn::Linear fc({64, 10, true}, 5, 42);
  const auto params = fc.named_parameters();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0].first, "weight");
  EXPECT_EQ(params[0].second->shape(), Shape({10, 64}));
  EXPECT_EQ(params[1].first, "bias");
  for (double v : params[1].second->value().to(DType::f64).to_vector<double>()) EXPECT_EQ(v, 0.0);
  // He-normal: std sqrt(2 / 64) within sampling error over 640 draws.
  double sum_sq = 0;
  for (double v : fc.weight().value().to(DType::f64).to_vector<double>()) sum_sq += v * v;
  EXPECT_NEAR(std::sqrt(sum_sq / 640), std::sqrt(2.0 / 64), 0.02);
  // The same seed and id give the same weights; another id others.
  nn::Linear again({64, 10, true}, 5, 42), other({64, 10, true}, 5, 43);
  EXPECT_EQ(fc.weight().value().to_vector<float>(), again.weight().value().to_vector<float>());
  EXPECT_NE(fc.weight().value().to_vector<float>(), other.weight().value().to_vector<float>());
  EXPECT_EQ(nn::Linear({8, 3, false}, 0, 1).named_parameters().size(), 1u);
}

TEST(Linear, RejectsMismatchedShapes) {
  Variable x(random_tensor({4, 5}, 10));
  Variable w(random_tensor({3, 6}, 11));
  EXPECT_THROW(ops::linear(x, w, nullptr), Error);
  Variable image(random_tensor({4, 5, 1, 1}, 12));
  Variable w5(random_tensor({3, 5}, 13));
  EXPECT_THROW(ops::linear(image, w5, nullptr), Error);  // flatten first
  Variable bad_bias(random_tensor({4}, 14));
  EXPECT_THROW(ops::linear(x, w5, &bad_bias), Error);
}

// ---- CUDA parity ----

class CudaLinearParity : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU";
    context_ = create_cuda_context(0);
  }
  Device gpu() { return Device(context_.get()); }
  void set_allow_tf32(bool allow) {
#if CONVLAB_WITH_CUDA
    static_cast<CudaContext*>(context_.get())->set_allow_tf32(allow);
#else
    (void)allow;
#endif
  }
  static std::vector<double> values(const Tensor& t) { return t.to(cpu()).to(DType::f64).to_vector<double>(); }
  static double norm_relative_error(const Tensor& ref, const Tensor& got) {
    const std::vector<double> a = values(ref), b = values(got);
    EXPECT_EQ(a.size(), b.size());
    double diff = 0, norm = 0;
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
      diff += (a[i] - b[i]) * (a[i] - b[i]);
      norm += a[i] * a[i];
    }
    return norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
  }
  static double max_relative_error(const Tensor& ref, const Tensor& got) {
    const std::vector<double> a = values(ref), b = values(got);
    double worst = 0, scale = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      worst = std::max(worst, std::abs(a[i] - b[i]));
      scale = std::max(scale, std::abs(a[i]));
    }
    return scale > 0 ? worst / scale : worst;
  }
  std::unique_ptr<DeviceContext> context_;
};

TEST_F(CudaLinearParity, FourSlotsAgainstFloat64) {
  struct Case {
    int64_t batch, in, out;
  };
  // ResNet-20's classifier, odd sizes, and a wide layer that takes the tensor-core paths.
  for (const Case c : {Case{128, 64, 10}, Case{37, 13, 7}, Case{1, 5, 3}, Case{256, 384, 200}})
    for (const bool tf32 : {true, false}) {
      SCOPED_TRACE(fmt::format("({}, {}) -> {}{}", c.batch, c.in, c.out, tf32 ? " TF32" : " strict fp32"));
      set_allow_tf32(tf32);
      const double tolerance = tf32 ? 2e-3 : 1e-5;
      const Tensor x = random_tensor({c.batch, c.in}, 21, -2, 2, DType::f32);
      const Tensor w = random_tensor({c.out, c.in}, 22, -2, 2, DType::f32);
      const Tensor b = random_tensor({c.out}, 23, -2, 2, DType::f32);
      const Tensor gy = random_tensor({c.batch, c.out}, 24, -2, 2, DType::f32);
      const Tensor x64 = x.to(DType::f64), w64 = w.to(DType::f64), b64 = b.to(DType::f64), gy64 = gy.to(DType::f64);
      const Tensor xg = x.to(gpu()), wg = w.to(gpu()), bg = b.to(gpu()), gyg = gy.to(gpu());

      Tensor y = Tensor::empty({c.batch, c.out}, DType::f64, cpu()), yg = Tensor::empty({c.batch, c.out}, DType::f32, gpu());
      cpu_backend().linear_forward(x64, w64, &b64, y);
      cuda_backend().linear_forward(xg, wg, &bg, yg);
      EXPECT_LE(norm_relative_error(y, yg), tolerance) << "forward";

      Tensor gx = Tensor::empty(x.shape(), DType::f64, cpu()), gxg = Tensor::empty(x.shape(), DType::f32, gpu());
      cpu_backend().linear_backward_data(w64, gy64, gx);
      cuda_backend().linear_backward_data(wg, gyg, gxg);
      EXPECT_LE(norm_relative_error(gx, gxg), tolerance) << "backward data";

      Tensor gw = Tensor::empty(w.shape(), DType::f64, cpu()), gwg = Tensor::empty(w.shape(), DType::f32, gpu());
      cpu_backend().linear_backward_weight(x64, gy64, gw);
      cuda_backend().linear_backward_weight(xg, gyg, gwg);
      EXPECT_LE(norm_relative_error(gw, gwg), tolerance) << "backward weight";

      Tensor gb = Tensor::empty({c.out}, DType::f64, cpu()), gbg = Tensor::empty({c.out}, DType::f32, gpu());
      cpu_backend().linear_backward_bias(gy64, gb);
      cuda_backend().linear_backward_bias(gyg, gbg);
      EXPECT_LE(max_relative_error(gb, gbg), 1e-6) << "backward bias";
    }
}

TEST_F(CudaLinearParity, RepeatsBitwiseAndRunsThroughAutograd) {
  set_allow_tf32(false);
  const Tensor x = random_tensor({50, 33}, 31, -1, 1, DType::f32), w = random_tensor({9, 33}, 32, -1, 1, DType::f32);
  const Tensor b = random_tensor({9}, 33, -1, 1, DType::f32);
  const Tensor labels = Tensor::from_vector<int32_t>({50}, std::vector<int32_t>(50, 4));
  auto grads = [&](Device device) {
    Variable xv(x.to(device), true), wv(w.to(device), true), bv(b.to(device), true);
    ops::softmax_cross_entropy(ops::linear(xv, wv, &bv), labels.to(device)).backward();
    return std::vector<std::vector<double>>{values(xv.grad()), values(wv.grad()), values(bv.grad())};
  };
  const auto first = grads(gpu()), second = grads(gpu()), reference = grads(cpu());
  EXPECT_EQ(first, second);
  for (size_t i = 0; i < first.size(); ++i) {
    double diff = 0, norm = 0;
    for (size_t j = 0; j < first[i].size(); ++j) {
      diff += (first[i][j] - reference[i][j]) * (first[i][j] - reference[i][j]);
      norm += reference[i][j] * reference[i][j];
    }
    EXPECT_LE(std::sqrt(diff / norm), 1e-5) << "gradient " << i;
  }
}
