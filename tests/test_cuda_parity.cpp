// CPU-vs-CUDA parity of every CUDA op, forward and backward, on fresh random inputs of
// awkward sizes (not multiples of the block size). Skips when no GPU answers.
//
// Tolerances:
// - exact (bitwise) where both devices run the same per-element code from kernels/ (the CUDA
//   sources are built with --fmad=false): fill, add, mul, scale_by, axpy, ReLU, dropout,
//   BN in evaluation, pooling backward, softmax backward, count_correct, SGD (given the same
//   gradient norm), gather_batch;
// - 1e-6 relative for sums accumulated in double on both devices (sum, sum_squares, the
//   optimiser's sums, pooling, conv bias gradient): only the final float rounding differs;
// - 1e-5 relative to the largest reference magnitude for BN training statistics, outputs
//   and gradients, and for the softmax loss and probabilities (device exp/log differ from
//   the host's in the last bits);
// - convolutions against a float64 CPU reference, as ||gpu - ref|| / ||ref||: 2e-3 with TF32
//   (operands cut to 10 mantissa bits: about 4e-4 rms when rounded, up to about 8e-4 when
//   truncated); in strict fp32 mode from the reduction length n of each direction (forward
//   C R S, backward data K R S, backward filter N OH OW: 131,072 at 128x32x32), as
//   16 sqrt(n) 2^-24 (strict_fp32_tolerance below: a serial fp32 sum's rms error is about
//   sqrt(n / 2) 2^-24 of the norm, the GPU's blocked sums do better, and Winograd or FFT
//   algorithms, which cuDNN may choose, worse by a small constant factor);
//   at small awkward shapes and at All-CNN-C's real ones (batch 128, 96 channels, 32x32),
//   with deterministic and non-deterministic algorithms, on both routes for asymmetric padding;
// - a few training steps of a narrow All-CNN-C in strict fp32: losses and parameters within
//   1e-4 relative.
// Determinism: reductions, BN, the loss and the convolutions (deterministic cuDNN algorithms)
// give bitwise-equal results when run twice on the same inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

#include "framework/backend/backend.h"
#include "framework/backend/cuda_device.h"
#include "framework/ops/ops.h"
#include "framework/optim/sgd.h"
#include "models/all_cnn_c.h"
#include "tests/support/gradient_check.h"
#include "tests/support/tensor_compare.h"

#if CONVLAB_WITH_CUDA
#include "framework/backend/cuda/conv_report.h"
#include "framework/backend/cuda/cuda_context.h"
#endif

using namespace convlab;

namespace {

using test_support::bitwise_equal;
using test_support::max_relative_error;
using test_support::norm_relative_error;

class CudaParity : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU";
    context_ = create_cuda_context(0);
  }
  Device gpu() { return Device(context_.get()); }
#if CONVLAB_WITH_CUDA
  CudaContext& cuda_ctx() { return *static_cast<CudaContext*>(context_.get()); }
  void set_allow_tf32(bool allow) { cuda_ctx().set_allow_tf32(allow); }
  void set_deterministic(bool on) { cuda_ctx().set_deterministic(on); }
  void set_graph_api_padding(bool on) { cuda_ctx().set_graph_api_padding(on); }
#else
  void set_allow_tf32(bool) {}
  void set_deterministic(bool) {}
  void set_graph_api_padding(bool) {}
#endif
  static Tensor random(Shape shape, uint64_t seed, double lo = -2, double hi = 2) {
    return test_support::random_tensor(std::move(shape), seed, lo, hi, DType::f32);
  }
  static Tensor random_labels(int64_t count, int classes, uint64_t seed) {
    std::vector<int32_t> v(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i)
      v[static_cast<size_t>(i)] = static_cast<int32_t>(kernels::random_below({seed, 0x1abe1, 0}, i, classes));
    return Tensor::from_vector<int32_t>({count}, v);
  }
  Tensor empty_gpu(Shape shape, DType dtype = DType::f32) { return Tensor::empty(std::move(shape), dtype, gpu()); }
  static Tensor empty_cpu(Shape shape, DType dtype = DType::f32) {
    return Tensor::empty(std::move(shape), dtype, cpu());
  }
  static void expect_equal(const Tensor& cpu_result, const Tensor& gpu_result) {
    const Tensor back = gpu_result.to(cpu());
    ASSERT_EQ(cpu_result.shape(), back.shape());
    ASSERT_EQ(cpu_result.dtype(), back.dtype());
    if (back.dtype() == DType::i32) {
      for (int64_t i = 0; i < back.numel(); ++i)
        ASSERT_EQ(cpu_result.host<int32_t>()[i], back.host<int32_t>()[i]) << "element " << i;
      return;
    }
    const float* a = cpu_result.host<float>();
    const float* b = back.host<float>();
    for (int64_t i = 0; i < cpu_result.numel(); ++i) ASSERT_EQ(a[i], b[i]) << "element " << i;
  }
  std::unique_ptr<DeviceContext> context_;
};

}  // namespace

// ---- elementwise: exact ----

TEST_F(CudaParity, Fill) {
  Tensor t = Tensor::full({1000}, DType::f32, gpu(), 2.5);
  expect_equal(Tensor::full({1000}, DType::f32, cpu(), 2.5), t);
}

TEST_F(CudaParity, Axpy) {
  const Tensor x = random({3, 1001}, 1);
  Tensor y = random({3, 1001}, 2);
  Tensor y_gpu = y.to(gpu());
  cpu_backend().axpy(0.37, x, y);
  cuda_backend().axpy(0.37, x.to(gpu()), y_gpu);
  expect_equal(y, y_gpu);
}

TEST_F(CudaParity, AddMulScaleBy) {
  const Tensor a = random({7, 13, 11}, 11), b = random({7, 13, 11}, 12), s = random({1}, 13);
  const Tensor a_gpu = a.to(gpu()), b_gpu = b.to(gpu()), s_gpu = s.to(gpu());
  Tensor out = empty_cpu(a.shape()), out_gpu = empty_gpu(a.shape());
  cpu_backend().add(a, b, out);
  cuda_backend().add(a_gpu, b_gpu, out_gpu);
  expect_equal(out, out_gpu);
  cpu_backend().mul(a, b, out);
  cuda_backend().mul(a_gpu, b_gpu, out_gpu);
  expect_equal(out, out_gpu);
  cpu_backend().scale_by(a, s, -2.7, out);
  cuda_backend().scale_by(a_gpu, s_gpu, -2.7, out_gpu);
  expect_equal(out, out_gpu);
}

TEST_F(CudaParity, ReluForwardBackward) {
  const Tensor x = random({4, 5, 7, 9}, 3), g = random({4, 5, 7, 9}, 4);
  Tensor y = Tensor::empty(x.shape(), DType::f32, cpu()), gx = Tensor::empty(x.shape(), DType::f32, cpu());
  cpu_backend().relu_forward(x, y);
  cpu_backend().relu_backward(y, g, gx);
  Tensor y_gpu = Tensor::empty(x.shape(), DType::f32, gpu()), gx_gpu = Tensor::empty(x.shape(), DType::f32, gpu());
  cuda_backend().relu_forward(x.to(gpu()), y_gpu);
  cuda_backend().relu_backward(y_gpu, g.to(gpu()), gx_gpu);
  expect_equal(y, y_gpu);
  expect_equal(gx, gx_gpu);
}

TEST_F(CudaParity, DropoutDrawsTheSameMask) {
  const Tensor x = random({8, 16, 9, 9}, 5);
  const RandomKey key{42, 0x101, 7};
  Tensor y = Tensor::empty(x.shape(), DType::f32, cpu());
  cpu_backend().dropout_forward(x, 0.3, key, y);
  Tensor y_gpu = Tensor::empty(x.shape(), DType::f32, gpu());
  cuda_backend().dropout_forward(x.to(gpu()), 0.3, key, y_gpu);
  expect_equal(y, y_gpu);
  Tensor gx = Tensor::empty(x.shape(), DType::f32, cpu()), gx_gpu = empty_gpu(x.shape());
  cpu_backend().dropout_backward(x, 0.3, key, gx);
  cuda_backend().dropout_backward(x.to(gpu()), 0.3, key, gx_gpu);
  expect_equal(gx, gx_gpu);
  // The step read from device memory draws the same mask as the step in the key.
  const Tensor step = Tensor::full({1}, DType::i32, gpu(), 7);
  RandomKey from_device{42, 0x101, 0};
  from_device.step_source = step.data<int32_t>();
  Tensor z_gpu = empty_gpu(x.shape());
  cuda_backend().dropout_forward(x.to(gpu()), 0.3, from_device, z_gpu);
  expect_equal(y, z_gpu);
}

// ---- reductions: double accumulation on both sides, 1e-6 ----

TEST_F(CudaParity, SumAndSumSquares) {
  for (const int64_t n : {int64_t{1}, int64_t{1001}, int64_t{1000003}, int64_t{5000011}}) {
    const Tensor x = random({n}, 20 + static_cast<uint64_t>(n), -1, 3);
    const Tensor x_gpu = x.to(gpu());
    Tensor total = empty_cpu({1}), total_gpu = empty_gpu({1});
    cpu_backend().sum(x, total);
    cuda_backend().sum(x_gpu, total_gpu);
    EXPECT_LE(max_relative_error(total, total_gpu), 1e-6) << "sum of " << n;
    cpu_backend().sum_squares(x, total);
    cuda_backend().sum_squares(x_gpu, total_gpu);
    EXPECT_LE(max_relative_error(total, total_gpu), 1e-6) << "sum_squares of " << n;
  }
}

TEST_F(CudaParity, SgdSumsOverManyTensors) {
  // More tensors than one launch takes, sizes around the chunk size; with and without the
  // L2 penalty's gradient folded in.
  std::vector<Tensor> cpu_params, cpu_grads, gpu_params, gpu_grads;
  for (int i = 0; i < 61; ++i) {
    const int64_t n = i == 7 ? 100003 : 1 + (i * 977) % 20011;
    cpu_params.push_back(random({n}, 100 + static_cast<uint64_t>(i)));
    cpu_grads.push_back(random({n}, 200 + static_cast<uint64_t>(i), -0.01, 0.01));
    gpu_params.push_back(cpu_params.back().to(gpu()));
    gpu_grads.push_back(cpu_grads.back().to(gpu()));
  }
  std::vector<const Tensor*> cpu_p, cpu_g, gpu_p, gpu_g;
  for (size_t i = 0; i < cpu_params.size(); ++i) {
    cpu_p.push_back(&cpu_params[i]);
    cpu_g.push_back(&cpu_grads[i]);
    gpu_p.push_back(&gpu_params[i]);
    gpu_g.push_back(&gpu_grads[i]);
  }
  for (const double l2 : {0.0, 1e-3}) {
    Tensor grads = empty_cpu({1}), params = empty_cpu({1}), grads_gpu = empty_gpu({1}), params_gpu = empty_gpu({1});
    cpu_backend().sgd_sums(cpu_p, cpu_g, l2, grads, params);
    cuda_backend().sgd_sums(gpu_p, gpu_g, l2, grads_gpu, params_gpu);
    EXPECT_LE(max_relative_error(grads, grads_gpu), 1e-6) << "l2 " << l2;
    EXPECT_LE(max_relative_error(params, params_gpu), 1e-6) << "l2 " << l2;
  }
}

// ---- convolution: cuDNN against a float64 CPU reference ----

namespace {

struct ConvCase {
  const char* name;
  int64_t batch, channels, h, w, out_channels, kernel_h, kernel_w, stride;
  Padding padding;
  int64_t pad;
};

const ConvCase kConvCases[] = {
    {"3x3 SAME stride 1", 3, 5, 11, 13, 7, 3, 3, 1, Padding::same, 0},
    {"3x3 SAME stride 2, even sizes (pad 0 before, 1 after)", 2, 6, 12, 16, 5, 3, 3, 2, Padding::same, 0},
    {"3x3 SAME stride 2, odd height (symmetric) and even width", 3, 4, 11, 16, 6, 3, 3, 2, Padding::same, 0},
    {"3x3 SAME stride 2, wider (tensor-core shapes)", 4, 32, 16, 16, 48, 3, 3, 2, Padding::same, 0},
    {"3x3 VALID", 3, 4, 8, 9, 6, 3, 3, 1, Padding::valid, 0},
    {"1x1", 3, 7, 6, 5, 10, 1, 1, 1, Padding::same, 0},
    {"5x3 explicit pad 1", 2, 3, 9, 7, 4, 5, 3, 1, Padding::explicit_, 1},
};

// The shapes of depth-1 All-CNN-C's first block at batch 128 (a few seconds of float64 work
// on the CPU side, so apart from the small cases that run under compute-sanitizer).
const ConvCase kRealConvCases[] = {
    {"real shape: 128x96x32x32, 3x3 SAME stride 1", 128, 96, 32, 32, 96, 3, 3, 1, Padding::same, 0},
    {"real shape: 128x96x32x32, 3x3 SAME stride 2 (pad 0 before, 1 after)", 128, 96, 32, 32, 96, 3, 3, 2,
     Padding::same, 0},
};

}  // namespace

// The norm-relative tolerance of a strict-fp32 convolution whose outputs are sums of n
// products (see the header).
double strict_fp32_tolerance(int64_t n) { return 16.0 * std::sqrt(static_cast<double>(n)) * std::ldexp(1.0, -24); }

// TF32 operands carry 10 mantissa bits whatever the reduction length (see the header).
constexpr double kTf32Tolerance = 2e-3;

class CudaConvParity : public CudaParity {
 protected:
  void check(const ConvCase& c, bool tf32) { check(c, tf32, tf32 ? kTf32Tolerance : 0.0); }
  // Forward (with bias), backward data, filter and bias of one case against the CPU in f64;
  // `tolerance` 0 means each direction's strict-fp32 tolerance from its reduction length.
  void check(const ConvCase& c, bool tf32, double tolerance) {
    SCOPED_TRACE(std::string(c.name) + (tf32 ? " (TF32)" : " (strict fp32)"));
    set_allow_tf32(tf32);
    const ConvGeometry g = ConvGeometry::make(c.batch, c.channels, c.h, c.w, c.out_channels, c.kernel_h, c.kernel_w,
                                              c.stride, c.padding, c.pad);
    const Shape y_shape{g.batch, g.out_channels, g.out_h, g.out_w};
    const Tensor x = random({c.batch, c.channels, c.h, c.w}, 201);
    const Tensor w = random({c.out_channels, c.channels, c.kernel_h, c.kernel_w}, 202);
    const Tensor bias = random({c.out_channels}, 203), grad_y = random(y_shape, 204);
    const Tensor x64 = x.to(DType::f64), w64 = w.to(DType::f64), bias64 = bias.to(DType::f64),
                 grad_y64 = grad_y.to(DType::f64);
    const Tensor x_gpu = x.to(gpu()), w_gpu = w.to(gpu()), bias_gpu = bias.to(gpu()), grad_y_gpu = grad_y.to(gpu());

    Tensor y = empty_cpu(y_shape, DType::f64), y_gpu = empty_gpu(y_shape);
    cpu_backend().conv2d_forward(x64, w64, &bias64, y, g);
    cuda_backend().conv2d_forward(x_gpu, w_gpu, &bias_gpu, y_gpu, g);
    const auto limit = [&](int64_t n) { return tolerance > 0 ? tolerance : strict_fp32_tolerance(n); };
    EXPECT_LE(norm_relative_error(y, y_gpu), limit(g.in_channels * g.kernel_h * g.kernel_w)) << "forward";

    Tensor grad_x = empty_cpu(x.shape(), DType::f64), grad_x_gpu = empty_gpu(x.shape());
    cpu_backend().conv2d_backward_data(w64, grad_y64, grad_x, g);
    cuda_backend().conv2d_backward_data(w_gpu, grad_y_gpu, grad_x_gpu, g);
    EXPECT_LE(norm_relative_error(grad_x, grad_x_gpu), limit(g.out_channels * g.kernel_h * g.kernel_w))
        << "backward data";

    Tensor grad_w = empty_cpu(w.shape(), DType::f64), grad_w_gpu = empty_gpu(w.shape());
    cpu_backend().conv2d_backward_filter(x64, grad_y64, grad_w, g);
    cuda_backend().conv2d_backward_filter(x_gpu, grad_y_gpu, grad_w_gpu, g);
    EXPECT_LE(norm_relative_error(grad_w, grad_w_gpu), limit(g.batch * g.out_h * g.out_w)) << "backward filter";

    Tensor grad_b = empty_cpu({c.out_channels}, DType::f64), grad_b_gpu = empty_gpu({c.out_channels});
    cpu_backend().conv2d_backward_bias(grad_y64, grad_b);
    cuda_backend().conv2d_backward_bias(grad_y_gpu, grad_b_gpu);
    EXPECT_LE(max_relative_error(grad_b, grad_b_gpu), 1e-6) << "backward bias";
  }
};

TEST(CudaConvCases, IncludeAsymmetricSamePadding) {
  const ConvCase& c = kConvCases[1];
  const ConvGeometry g = ConvGeometry::make(c.batch, c.channels, c.h, c.w, c.out_channels, c.kernel_h, c.kernel_w,
                                            c.stride, c.padding, c.pad);
  EXPECT_EQ(g.pad_top, 0);
  EXPECT_EQ(g.pad_bottom, 1);
  EXPECT_EQ(g.pad_left, 0);
  EXPECT_EQ(g.pad_right, 1);
}

TEST_F(CudaConvParity, Tf32) {
  for (const ConvCase& c : kConvCases) check(c, true);
}

TEST_F(CudaConvParity, StrictFp32) {
  for (const ConvCase& c : kConvCases) check(c, false);
}

TEST_F(CudaConvParity, RealShapesTf32) {
  for (const ConvCase& c : kRealConvCases) check(c, true);
}

TEST_F(CudaConvParity, RealShapesStrictFp32) {
  for (const ConvCase& c : kRealConvCases) check(c, false);
}

TEST_F(CudaConvParity, NondeterministicAlgorithmsAdmitted) {
  // Non-deterministic algorithms may sum in another order: the same tolerances hold.
  set_deterministic(false);
  for (const ConvCase& c : kConvCases) check(c, true);
  for (const ConvCase& c : kConvCases) check(c, false);
  for (const ConvCase& c : kRealConvCases) check(c, true);
}

TEST_F(CudaConvParity, AsymmetricPaddingOnTheGraphApiAndThroughAPaddedCopy) {
  // XLA's SAME at stride 2 on even sizes: cuDNN's graph API and the padded-copy route must
  // both be right, each alone and timed against each other (the default); and the route
  // reported must be the route that ran: the graph API where it alone was asked for (cuDNN 9
  // offers engines for these shapes, so a silent fallback fails here), the padded copy where
  // it alone was.
  // (The real shapes take the default route in RealShapes*.)
#if CONVLAB_WITH_CUDA
  using Route = CudaContext::AsymmetricRoute;
  for (const Route route : {Route::graph_api, Route::padded_copy, Route::fastest}) {
    cuda_ctx().set_asymmetric_route(route);
    for (const ConvCase& c : kConvCases) {
      const ConvGeometry g = ConvGeometry::make(c.batch, c.channels, c.h, c.w, c.out_channels, c.kernel_h,
                                                c.kernel_w, c.stride, c.padding, c.pad);
      if (g.pad_top == g.pad_bottom && g.pad_left == g.pad_right) continue;
      check(c, false);
      check(c, true);
    }
  }
  int asymmetric = 0;
  for (const backend_cuda::ConvChoice& choice : backend_cuda::conv_choices(cuda_ctx())) {
    if (choice.geometry.find("stride 2") == std::string::npos) continue;
    ++asymmetric;
    SCOPED_TRACE(choice.geometry + " " + backend_cuda::direction_name(choice.direction));
    if (choice.asymmetric_route == static_cast<int>(Route::graph_api)) {
      EXPECT_EQ(choice.route, "graph API (pre/post padding)") << choice.graph_unavailable;
      EXPECT_TRUE(choice.graph_unavailable.empty()) << choice.graph_unavailable;
    } else if (choice.asymmetric_route == static_cast<int>(Route::padded_copy)) {
      EXPECT_EQ(choice.route, "legacy, padded copy");
    } else {  // timed against each other: more than one candidate, whichever won
      EXPECT_GT(choice.candidates, 1u);
    }
  }
  EXPECT_GT(asymmetric, 0);
  for (const std::string& line : describe_conv_choices(gpu())) std::printf("  %s\n", line.c_str());
#endif
}

// ---- batch normalisation: 1e-5 of the largest magnitude ----

TEST_F(CudaParity, BatchNormTrainEvalBackward) {
  // The second shape spreads each channel over several blocks of the first pass; each runs
  // plain and with the fused ReLU.
  for (const Shape& shape : {Shape({5, 7, 9, 11}), Shape({7, 3, 61, 67})})
    for (const bool relu : {false, true}) {
      SCOPED_TRACE(shape.str() + (relu ? " with ReLU" : ""));
      const int64_t channels = shape[1];
      const Tensor x = random(shape, 301, 0.5, 3.5);  // a mean well away from 0
      const Tensor gamma = random({channels}, 302), beta = random({channels}, 303), grad_y = random(shape, 304);
      Tensor running_mean = random({channels}, 305), running_var = random({channels}, 306, 0.5, 1.5);
      Tensor running_mean_gpu = running_mean.to(gpu()), running_var_gpu = running_var.to(gpu());
      const Tensor x_gpu = x.to(gpu()), gamma_gpu = gamma.to(gpu()), beta_gpu = beta.to(gpu());
      const Tensor grad_y_gpu = grad_y.to(gpu());

      Tensor y = empty_cpu(shape), mean = empty_cpu({channels}), inv_std = empty_cpu({channels});
      Tensor y_gpu = empty_gpu(shape), mean_gpu = empty_gpu({channels}), inv_std_gpu = empty_gpu({channels});
      cpu_backend().batchnorm_forward_train(x, gamma, beta, 1e-5, 0.1, relu, y, mean, inv_std, running_mean,
                                            running_var);
      cuda_backend().batchnorm_forward_train(x_gpu, gamma_gpu, beta_gpu, 1e-5, 0.1, relu, y_gpu, mean_gpu,
                                             inv_std_gpu, running_mean_gpu, running_var_gpu);
      EXPECT_LE(max_relative_error(y, y_gpu), 1e-5) << "y";
      EXPECT_LE(max_relative_error(mean, mean_gpu), 1e-5) << "saved mean";
      EXPECT_LE(max_relative_error(inv_std, inv_std_gpu), 1e-5) << "saved inv_std";
      EXPECT_LE(max_relative_error(running_mean, running_mean_gpu), 1e-5) << "running mean";
      EXPECT_LE(max_relative_error(running_var, running_var_gpu), 1e-5) << "running var";

      // Evaluation is per element on the same running statistics: exact.
      Tensor y_eval = empty_cpu(shape), y_eval_gpu = empty_gpu(shape);
      cpu_backend().batchnorm_forward_eval(x, gamma, beta, running_mean, running_var, 1e-5, relu, y_eval);
      cuda_backend().batchnorm_forward_eval(x_gpu, gamma_gpu, beta_gpu, running_mean.to(gpu()), running_var.to(gpu()),
                                            1e-5, relu, y_eval_gpu);
      expect_equal(y_eval, y_eval_gpu);

      // Backward from the same saved statistics (and, fused, the same output) on both devices.
      const Tensor mean_back = mean.to(gpu()), inv_std_back = inv_std.to(gpu()), y_back = y.to(gpu());
      Tensor grad_x = empty_cpu(shape), grad_gamma = empty_cpu({channels}), grad_beta = empty_cpu({channels});
      Tensor grad_x_gpu = empty_gpu(shape), grad_gamma_gpu = empty_gpu({channels}), grad_beta_gpu = empty_gpu({channels});
      cpu_backend().batchnorm_backward(x, relu ? &y : nullptr, gamma, mean, inv_std, grad_y, grad_x, grad_gamma,
                                       grad_beta);
      cuda_backend().batchnorm_backward(x_gpu, relu ? &y_back : nullptr, gamma_gpu, mean_back, inv_std_back,
                                        grad_y_gpu, grad_x_gpu, grad_gamma_gpu, grad_beta_gpu);
      EXPECT_LE(max_relative_error(grad_x, grad_x_gpu), 1e-5) << "grad x";
      EXPECT_LE(max_relative_error(grad_gamma, grad_gamma_gpu), 1e-5) << "grad gamma";
      EXPECT_LE(max_relative_error(grad_beta, grad_beta_gpu), 1e-5) << "grad beta";
    }
}

TEST_F(CudaParity, FoldBatchNormIsExact) {
  // Per element on both devices with the same functions (kernels/batchnorm.h).
  const Tensor w = random({24, 7, 3, 3}, 350), bias = random({24}, 351);
  const Tensor gamma = random({24}, 352, 0.5, 1.5), beta = random({24}, 353);
  const Tensor mean = random({24}, 354), var = random({24}, 355, 0.2, 2.0);
  for (const bool with_bias : {false, true}) {
    Tensor fw = empty_cpu(w.shape()), fb = empty_cpu({24}), fw_gpu = empty_gpu(w.shape()), fb_gpu = empty_gpu({24});
    const Tensor bias_gpu = bias.to(gpu());
    cpu_backend().fold_batchnorm(w, with_bias ? &bias : nullptr, gamma, beta, mean, var, 1e-5, fw, fb);
    cuda_backend().fold_batchnorm(w.to(gpu()), with_bias ? &bias_gpu : nullptr, gamma.to(gpu()), beta.to(gpu()),
                                  mean.to(gpu()), var.to(gpu()), 1e-5, fw_gpu, fb_gpu);
    expect_equal(fw, fw_gpu);
    expect_equal(fb, fb_gpu);
  }
}

// ---- pooling and loss ----

TEST_F(CudaParity, GlobalAvgPool) {
  for (const Shape& shape : {Shape({5, 7, 6, 6}), Shape({3, 4, 33, 31})}) {
    const Tensor x = random(shape, 401), g = random({shape[0], shape[1]}, 402);
    Tensor y = empty_cpu({shape[0], shape[1]}), y_gpu = empty_gpu({shape[0], shape[1]});
    cpu_backend().global_avg_pool_forward(x, y);
    cuda_backend().global_avg_pool_forward(x.to(gpu()), y_gpu);
    EXPECT_LE(max_relative_error(y, y_gpu), 1e-6) << shape.str();
    Tensor gx = empty_cpu(shape), gx_gpu = empty_gpu(shape);
    cpu_backend().global_avg_pool_backward(g, gx);
    cuda_backend().global_avg_pool_backward(g.to(gpu()), gx_gpu);
    expect_equal(gx, gx_gpu);
  }
}

TEST_F(CudaParity, SoftmaxCrossEntropyAndAccuracy) {
  for (const int64_t batch : {int64_t{37}, int64_t{301}}) {
    SCOPED_TRACE(batch);
    const int classes = 10;
    Tensor logits = random({batch, classes}, 500 + static_cast<uint64_t>(batch), -4, 4);
    for (int k = 0; k < classes; ++k) logits.host<float>()[k] = 0.5f;  // a tie: the first index wins
    const Tensor labels = random_labels(batch, classes, 501);
    const Tensor logits_gpu = logits.to(gpu()), labels_gpu = labels.to(gpu());

    Tensor loss = empty_cpu({1}), probs = empty_cpu({batch, classes});
    Tensor loss_gpu = empty_gpu({1}), probs_gpu = empty_gpu({batch, classes});
    cpu_backend().softmax_xent_forward(logits, labels, loss, probs);
    cuda_backend().softmax_xent_forward(logits_gpu, labels_gpu, loss_gpu, probs_gpu);
    EXPECT_LE(max_relative_error(loss, loss_gpu), 1e-5) << "loss";
    EXPECT_LE(max_relative_error(probs, probs_gpu), 1e-5) << "probabilities";

    // The backward from the same probabilities is per element: exact.
    const Tensor grad_loss = Tensor::from_vector<float>({1}, {0.7f});
    Tensor grad = empty_cpu({batch, classes}), grad_gpu = empty_gpu({batch, classes});
    cpu_backend().softmax_xent_backward(probs, labels, grad_loss, grad);
    cuda_backend().softmax_xent_backward(probs.to(gpu()), labels_gpu, grad_loss.to(gpu()), grad_gpu);
    expect_equal(grad, grad_gpu);

    Tensor correct = empty_cpu({1}), correct_gpu = empty_gpu({1});
    cpu_backend().count_correct(logits, labels, correct);
    cuda_backend().count_correct(logits_gpu, labels_gpu, correct_gpu);
    expect_equal(correct, correct_gpu);
  }
}

TEST_F(CudaParity, TrackNonfiniteKeepsTheFirstBadStep) {
  Tensor first = Tensor::full({1}, DType::i32, gpu(), -1);
  Tensor counter = Tensor::full({1}, DType::i32, gpu(), 10);
  const float inputs[] = {1.5f, INFINITY, NAN, 2.0f};
  for (int step = 0; step < 4; ++step) {
    cuda_backend().track_nonfinite(Tensor::from_vector<float>({1}, {inputs[step]}).to(gpu()), counter, first);
    cuda_backend().increment(counter, 1);
    EXPECT_EQ(first.to(cpu()).item(), step == 0 ? -1.0 : 11.0) << "after step " << step;
  }
  EXPECT_EQ(counter.to(cpu()).item(), 14.0);
}

// ---- optimiser: exact given the same gradient norm ----

TEST_F(CudaParity, SgdUpdateOverManyTensors) {
  SgdConfig with_l2{0.9, true, 0.5, 0.0};
  with_l2.l2 = 1e-3;
  const SgdConfig configs[] = {{0.9, true, 2.0, 0.0}, {0.9, false, 0.0, 0.0}, {0.8, true, 1e9, 5e-4}, with_l2};
  for (const SgdConfig& config : configs) {
    std::vector<Tensor> params, grads, momenta, params_gpu, grads_gpu, momenta_gpu;
    for (int i = 0; i < 53; ++i) {
      const int64_t n = i == 3 ? 70001 : 1 + (i * 1237) % 9001;
      params.push_back(random({n}, 600 + static_cast<uint64_t>(i)));
      grads.push_back(random({n}, 700 + static_cast<uint64_t>(i)));
      momenta.push_back(random({n}, 800 + static_cast<uint64_t>(i), -0.5, 0.5));
      params_gpu.push_back(params.back().to(gpu()));
      grads_gpu.push_back(grads.back().to(gpu()));
      momenta_gpu.push_back(momenta.back().to(gpu()));
    }
    auto pointers = [](std::vector<Tensor>& v) {
      std::vector<Tensor*> out;
      for (Tensor& t : v) out.push_back(&t);
      return out;
    };
    auto const_pointers = [](const std::vector<Tensor>& v) {
      std::vector<const Tensor*> out;
      for (const Tensor& t : v) out.push_back(&t);
      return out;
    };
    Tensor grad_sum_squares = empty_cpu({1}), param_sum_squares = empty_cpu({1});
    cpu_backend().sgd_sums(const_pointers(params), const_pointers(grads), config.l2, grad_sum_squares,
                           param_sum_squares);
    const Tensor lr = Tensor::from_vector<float>({1}, {0.05f});
    const Tensor grad_sum_squares_gpu = grad_sum_squares.to(gpu()), lr_gpu = lr.to(gpu());
    for (int step = 0; step < 2; ++step) {  // the second step reads the momentum of the first
      cpu_backend().sgd_update(pointers(params), const_pointers(grads), pointers(momenta), grad_sum_squares, lr,
                               config);
      cuda_backend().sgd_update(pointers(params_gpu), const_pointers(grads_gpu), pointers(momenta_gpu),
                                grad_sum_squares_gpu, lr_gpu, config);
    }
    for (size_t i = 0; i < params.size(); ++i) {
      expect_equal(params[i], params_gpu[i]);
      expect_equal(momenta[i], momenta_gpu[i]);
    }
  }
}

// ---- data: exact ----

TEST_F(CudaParity, GatherBatchIsBitIdentical) {
  const int64_t images_count = 50, batch = 37;
  std::vector<uint8_t> pixels(static_cast<size_t>(images_count * 3 * 32 * 32)), label_values(images_count);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(kernels::random_u32({9, 1, 0}, i));
  for (size_t i = 0; i < label_values.size(); ++i) label_values[i] = static_cast<uint8_t>(i % 10);
  const int64_t first = 5;  // the batch starts inside the order, as in an epoch
  std::vector<int32_t> index_values(first + batch);
  for (int64_t i = 0; i < first + batch; ++i)
    index_values[static_cast<size_t>(i)] = static_cast<int32_t>(kernels::random_below({9, 2, 0}, i, images_count));
  const Tensor images = Tensor::from_vector<uint8_t>({images_count, 3, 32, 32}, pixels);
  const Tensor labels = Tensor::from_vector<uint8_t>({images_count}, label_values);
  const Tensor indices = Tensor::from_vector<int32_t>({first + batch}, index_values);
  const Tensor images_gpu = images.to(gpu()), labels_gpu = labels.to(gpu()), indices_gpu = indices.to(gpu());
  const kernels::AugmentConfig configs[] = {kernels::cifar10_augment_config(true, true, true),
                                            kernels::cifar10_augment_config(true, false, false)};
  for (const kernels::AugmentConfig& config : configs)
    for (const bool augment : {true, false}) {
      Tensor out = empty_cpu({batch, 3, 32, 32}), out_labels = empty_cpu({batch}, DType::i32);
      Tensor out_gpu = empty_gpu({batch, 3, 32, 32}), out_labels_gpu = empty_gpu({batch}, DType::i32);
      cpu_backend().gather_batch(images, labels, indices, first, config, augment, 1234, 5, out, out_labels);
      cuda_backend().gather_batch(images_gpu, labels_gpu, indices_gpu, first, config, augment, 1234, 5, out_gpu,
                                  out_labels_gpu);
      expect_equal(out, out_gpu);
      expect_equal(out_labels, out_labels_gpu);
    }
}

// ---- determinism: the same inputs twice give the same bits ----

TEST_F(CudaParity, ReductionsBatchNormLossAndConvRepeatBitwise) {
  const Backend& be = cuda_backend();
  const Shape shape{16, 5, 28, 30};  // stride-2 SAME on it pads 0 before, 1 after
  const Tensor x = random(shape, 901).to(gpu()), g = random(shape, 902).to(gpu());
  const Tensor gamma = random({5}, 903).to(gpu()), beta = random({5}, 904).to(gpu());
  auto run = [&] {
    std::vector<Tensor> out;
    out.push_back(empty_gpu({1}));
    be.sum(x, out.back());
    out.push_back(empty_gpu({1}));
    be.sum_squares(x, out.back());
    out.push_back(empty_gpu({1}));
    out.push_back(empty_gpu({1}));
    be.sgd_sums({&x, &gamma}, {&g, &beta}, 1e-3, out[out.size() - 2], out.back());
    Tensor y = empty_gpu(shape), mean = empty_gpu({5}), inv_std = empty_gpu({5});
    Tensor running_mean = Tensor::zeros({5}, DType::f32, gpu()), running_var = Tensor::full({5}, DType::f32, gpu(), 1);
    be.batchnorm_forward_train(x, gamma, beta, 1e-5, 0.1, true, y, mean, inv_std, running_mean, running_var);
    Tensor gx = empty_gpu(shape), gg = empty_gpu({5}), gb = empty_gpu({5});
    be.batchnorm_backward(x, &y, gamma, mean, inv_std, g, gx, gg, gb);
    for (Tensor* t : {&y, &mean, &inv_std, &running_mean, &running_var, &gx, &gg, &gb}) out.push_back(std::move(*t));
    Tensor bias_grad = empty_gpu({5});
    be.conv2d_backward_bias(g, bias_grad);
    out.push_back(std::move(bias_grad));
    Tensor pooled = empty_gpu({16, 5});
    be.global_avg_pool_forward(x, pooled);
    const Tensor labels = random_labels(16, 5, 905).to(gpu());
    Tensor loss = empty_gpu({1}), probs = empty_gpu({16, 5});
    be.softmax_xent_forward(pooled, labels, loss, probs);
    out.push_back(std::move(pooled));
    out.push_back(std::move(loss));
    const ConvGeometry geometry = ConvGeometry::make(16, 5, 28, 30, 8, 3, 3, 2, Padding::same);
    const Tensor w = random({8, 5, 3, 3}, 906).to(gpu());
    const Tensor grad_y = random({16, 8, geometry.out_h, geometry.out_w}, 907).to(gpu());
    Tensor conv_y = empty_gpu({16, 8, geometry.out_h, geometry.out_w}), conv_gx = empty_gpu(shape),
           conv_gw = empty_gpu({8, 5, 3, 3});
    be.conv2d_forward(x, w, nullptr, conv_y, geometry);
    be.conv2d_backward_data(w, grad_y, conv_gx, geometry);
    be.conv2d_backward_filter(x, grad_y, conv_gw, geometry);
    out.push_back(std::move(conv_y));
    out.push_back(std::move(conv_gx));
    out.push_back(std::move(conv_gw));
    return out;
  };
  const std::vector<Tensor> first = run(), second = run();
  ASSERT_EQ(first.size(), second.size());
  for (size_t i = 0; i < first.size(); ++i) EXPECT_TRUE(bitwise_equal(first[i], second[i])) << "result " << i;
}

// ---- a small network trained on both devices ----

namespace {

struct StepsResult {
  std::vector<double> losses;
  std::vector<Tensor> params;  // on the CPU
};

StepsResult train_steps(Device device, int steps) {
  models::AllCnnCOptions o;
  o.width1 = 16;
  o.width2 = 32;
  o.dropout_hidden = 0.5;
  o.seed = 11;
  models::AllCnnC model(o);
  model.to(device);
  const Tensor images = test_support::random_tensor({8, 3, 32, 32}, 1001, -2, 2, DType::f32).to(device);
  std::vector<int32_t> label_values(8);
  for (int i = 0; i < 8; ++i)
    label_values[static_cast<size_t>(i)] = static_cast<int32_t>(kernels::random_below({5, 6, 0}, i, 10));
  const Tensor labels = Tensor::from_vector<int32_t>({8}, label_values).to(device);
  optim::Sgd sgd(model.parameters(), SgdConfig{0.9, true, 2.0, 0.0});
  const Tensor lr = Tensor::from_vector<float>({1}, {0.05f}).to(device);
  StepsResult result;
  nn::ForwardContext ctx;
  ctx.seed = 17;
  for (int step = 0; step < steps; ++step) {
    ctx.step = static_cast<uint32_t>(step);
    model.zero_grad();
    Variable loss = ops::add(ops::softmax_cross_entropy(model.forward(Variable(images.clone()), ctx), labels),
                             optim::l2_penalty(model.parameters(), 1e-4));
    result.losses.push_back(loss.value().to(cpu()).item());
    loss.backward();
    sgd.step(lr);
  }
  for (Variable* p : model.parameters()) result.params.push_back(p->value().to(cpu()));
  return result;
}

}  // namespace

TEST_F(CudaParity, AllCnnCTrainingStepsMatchTheCpu) {
  set_allow_tf32(false);
  const StepsResult on_cpu = train_steps(cpu(), 4);
  const StepsResult on_gpu = train_steps(gpu(), 4);
  ASSERT_EQ(on_cpu.losses.size(), on_gpu.losses.size());
  for (size_t i = 0; i < on_cpu.losses.size(); ++i)
    EXPECT_NEAR(on_gpu.losses[i], on_cpu.losses[i], 1e-4 * std::abs(on_cpu.losses[i])) << "step " << i;
  ASSERT_EQ(on_cpu.params.size(), on_gpu.params.size());
  for (size_t i = 0; i < on_cpu.params.size(); ++i)
    EXPECT_LE(norm_relative_error(on_cpu.params[i], on_gpu.params[i]), 1e-4) << "parameter " << i;
}
