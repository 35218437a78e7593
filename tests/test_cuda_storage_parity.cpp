// CPU-vs-CUDA parity of bf16 storage and the channels_last format, like against like: both
// devices store bf16 and round with kernels/bf16.h, so a CUDA bf16 op is compared with the
// CPU's bf16 op on the same inputs. Skips when no GPU answers.
//
// Tolerances:
// - exact where both devices run the same per-element code on the same inputs: conversion
//   (dtype and format), fill, add, axpy, ReLU forward and backward, dropout, batch assembly,
//   BatchNorm in evaluation;
// - BatchNorm training and backward: the statistics are double sums in another order, so a
//   float result may land on the other side of a bf16 rounding boundary: at most 2 bf16 steps
//   (8e-3) of the largest magnitude; pooling from bf16 into f32: 1e-6;
// - convolutions in bf16 (NHWC and NCHW, both padding routes): cuDNN multiplies the bf16
//   operands exactly and sums in fp32 as the CPU's f32 GEMM does, in another order, and both
//   round the result once: ||gpu - cpu|| / ||cpu|| <= 2e-3;
// - convolutions in f32 channels_last (NHWC activations, KRSC filters) against a float64 CPU
//   reference, as ||gpu - ref|| / ||ref||: with TF32 2e-3 (operands cut to 10 mantissa bits,
//   as in test_cuda_parity.cpp); in strict fp32 8 * sqrt(n) * 2^-24, n the length of the
//   reduction behind one output (forward C*R*S, backward data K*R*S, backward filter
//   N*OH*OW): rounding errors of an n-term fp32 sum grow like sqrt(n) ulps, and 8 leaves room
//   for the order cuDNN's kernels sum in;
// - a few bf16 training steps of a narrow All-CNN-C: losses within 2e-2 relative, parameters
//   within 2e-2 norm-relative.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "framework/backend/backend.h"
#include "framework/backend/cuda_device.h"
#include "framework/ops/ops.h"
#include "framework/train/train_step.h"
#include "models/all_cnn_c.h"
#include "tests/support/gradient_check.h"
#include "tests/support/synthetic_data.h"
#include "tests/support/tensor_compare.h"

#if CONVLAB_WITH_CUDA
#include "framework/backend/cuda/conv_report.h"
#include "framework/backend/cuda/cuda_context.h"
#endif

using namespace convlab;

namespace {

constexpr MemoryFormat kLast = MemoryFormat::channels_last;
constexpr MemoryFormat kContiguous = MemoryFormat::contiguous;

// A CPU tensor in the given storage from uniform values.
Tensor stored(Shape shape, uint64_t seed, DType dtype, MemoryFormat format, double lo = -2, double hi = 2) {
  const Tensor f32 = test_support::random_tensor(std::move(shape), seed, lo, hi, DType::f32);
  Tensor out = Tensor::empty(f32.shape(), dtype, cpu(), format);
  cpu_backend().convert(f32, out);
  return out;
}

using test_support::bitwise_equal;
using test_support::max_relative_error;
using test_support::norm_relative_error;

class CudaStorageParity : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU";
    context_ = create_cuda_context(0);
  }
  Device gpu() { return Device(context_.get()); }
  void set_graph_api_padding(bool on) {
#if CONVLAB_WITH_CUDA
    static_cast<CudaContext*>(context_.get())->set_graph_api_padding(on);
#else
    (void)on;
#endif
  }
  // TF32 tensor cores for f32 convolutions (the default), or strict fp32.
  void set_allow_tf32(bool allow) {
#if CONVLAB_WITH_CUDA
    static_cast<CudaContext*>(context_.get())->set_allow_tf32(allow);
#else
    (void)allow;
#endif
  }
  std::unique_ptr<DeviceContext> context_;
};

}  // namespace

TEST_F(CudaStorageParity, ConvertBetweenDtypesAndFormatsIsExact) {
  const Tensor x = stored({3, 5, 7, 9}, 1, DType::f32, kContiguous);
  for (const DType from : {DType::f32, DType::bf16})
    for (const DType to : {DType::f32, DType::bf16})
      for (const MemoryFormat from_format : {kContiguous, kLast})
        for (const MemoryFormat to_format : {kContiguous, kLast}) {
          Tensor source = Tensor::empty(x.shape(), from, cpu(), from_format);
          cpu_backend().convert(x, source);
          Tensor cpu_out = Tensor::empty(x.shape(), to, cpu(), to_format);
          Tensor gpu_out = Tensor::empty(x.shape(), to, gpu(), to_format);
          cpu_backend().convert(source, cpu_out);
          cuda_backend().convert(source.to(gpu()), gpu_out);
          EXPECT_TRUE(bitwise_equal(cpu_out, gpu_out)) << dtype_name(from) << " " << format_name(from_format) << " -> "
                                                 << dtype_name(to) << " " << format_name(to_format);
        }
}

TEST_F(CudaStorageParity, ElementwiseBf16IsExact) {
  // Sizes that are not multiples of 8 exercise the vector loop's tail.
  for (const int64_t n : {int64_t{1}, int64_t{7}, int64_t{8}, int64_t{1003}, int64_t{65541}}) {
    SCOPED_TRACE(n);
    const Tensor a = stored({n}, 10 + n, DType::bf16, kContiguous), b = stored({n}, 11 + n, DType::bf16, kContiguous);
    const Tensor a_gpu = a.to(gpu()), b_gpu = b.to(gpu());
    Tensor out = Tensor::empty_like(a), out_gpu = Tensor::empty_like(a_gpu);
    cpu_backend().add(a, b, out);
    cuda_backend().add(a_gpu, b_gpu, out_gpu);
    EXPECT_TRUE(bitwise_equal(out, out_gpu)) << "add";
    Tensor y = b.clone(), y_gpu = b_gpu.clone();
    cpu_backend().axpy(0.37, a, y);
    cuda_backend().axpy(0.37, a_gpu, y_gpu);
    EXPECT_TRUE(bitwise_equal(y, y_gpu)) << "axpy";
    cpu_backend().relu_forward(a, out);
    cuda_backend().relu_forward(a_gpu, out_gpu);
    EXPECT_TRUE(bitwise_equal(out, out_gpu)) << "relu";
    Tensor g = Tensor::empty_like(a), g_gpu = Tensor::empty_like(a_gpu);
    cpu_backend().relu_backward(out, b, g);
    cuda_backend().relu_backward(out_gpu, b_gpu, g_gpu);
    EXPECT_TRUE(bitwise_equal(g, g_gpu)) << "relu backward";
    const RandomKey key{5, 0x101, 3};
    cpu_backend().dropout_forward(a, 0.3, key, out);
    cuda_backend().dropout_forward(a_gpu, 0.3, key, out_gpu);
    EXPECT_TRUE(bitwise_equal(out, out_gpu)) << "dropout";
    cpu_backend().fill(out, 0.1);
    cuda_backend().fill(out_gpu, 0.1);
    EXPECT_TRUE(bitwise_equal(out, out_gpu)) << "fill";
  }
}

TEST_F(CudaStorageParity, BatchNormAndPoolingInBf16ChannelsLast) {
  for (const MemoryFormat format : {kLast, kContiguous})
    for (const bool relu : {false, true}) {
      SCOPED_TRACE(std::string(format_name(format)) + (relu ? " with ReLU" : ""));
      const Shape shape{6, 24, 9, 11};
      const Tensor x = stored(shape, 30, DType::bf16, format, 0.5, 3.5), gy = stored(shape, 31, DType::bf16, format);
      const Tensor gamma = test_support::random_tensor({24}, 32, 0.5, 1.5, DType::f32);
      const Tensor beta = test_support::random_tensor({24}, 33, -0.5, 0.5, DType::f32);
      Tensor rm = Tensor::zeros({24}, DType::f32, cpu()), rv = Tensor::full({24}, DType::f32, cpu(), 1.0);
      Tensor rm_gpu = rm.to(gpu()), rv_gpu = rv.to(gpu());
      Tensor y = Tensor::empty_like(x), mean = Tensor::empty({24}, DType::f32, cpu()), inv = mean.clone();
      Tensor y_gpu = Tensor::empty(shape, DType::bf16, gpu(), format);
      Tensor mean_gpu = Tensor::empty({24}, DType::f32, gpu()), inv_gpu = mean_gpu.clone();
      cpu_backend().batchnorm_forward_train(x, gamma, beta, 1e-5, 0.1, relu, y, mean, inv, rm, rv);
      cuda_backend().batchnorm_forward_train(x.to(gpu()), gamma.to(gpu()), beta.to(gpu()), 1e-5, 0.1, relu, y_gpu,
                                             mean_gpu, inv_gpu, rm_gpu, rv_gpu);
      EXPECT_LE(max_relative_error(y, y_gpu), 8e-3) << "y";
      EXPECT_LE(max_relative_error(mean, mean_gpu), 1e-5) << "mean";
      EXPECT_LE(max_relative_error(inv, inv_gpu), 1e-5) << "inv_std";
      // Backward from the same statistics and output.
      Tensor gx = Tensor::empty_like(x), gg = Tensor::empty({24}, DType::f32, cpu()), gb = gg.clone();
      Tensor gx_gpu = Tensor::empty(shape, DType::bf16, gpu(), format);
      Tensor gg_gpu = Tensor::empty({24}, DType::f32, gpu()), gb_gpu = gg_gpu.clone();
      const Tensor y_back = y.to(gpu());
      cpu_backend().batchnorm_backward(x, relu ? &y : nullptr, gamma, mean, inv, gy, gx, gg, gb);
      cuda_backend().batchnorm_backward(x.to(gpu()), relu ? &y_back : nullptr, gamma.to(gpu()), mean.to(gpu()),
                                        inv.to(gpu()), gy.to(gpu()), gx_gpu, gg_gpu, gb_gpu);
      EXPECT_LE(max_relative_error(gx, gx_gpu), 8e-3) << "grad x";
      EXPECT_LE(max_relative_error(gg, gg_gpu), 1e-5) << "grad gamma";
      EXPECT_LE(max_relative_error(gb, gb_gpu), 1e-5) << "grad beta";
      // Evaluation: per element on the same running statistics.
      Tensor e = Tensor::empty_like(x), e_gpu = Tensor::empty(shape, DType::bf16, gpu(), format);
      cpu_backend().batchnorm_forward_eval(x, gamma, beta, rm, rv, 1e-5, relu, e);
      cuda_backend().batchnorm_forward_eval(x.to(gpu()), gamma.to(gpu()), beta.to(gpu()), rm.to(gpu()), rv.to(gpu()),
                                            1e-5, relu, e_gpu);
      EXPECT_TRUE(bitwise_equal(e, e_gpu)) << "eval";
      // Pooling into f32 and back.
      Tensor pooled = Tensor::empty({6, 24}, DType::f32, cpu()), pooled_gpu = Tensor::empty({6, 24}, DType::f32, gpu());
      cpu_backend().global_avg_pool_forward(x, pooled);
      cuda_backend().global_avg_pool_forward(x.to(gpu()), pooled_gpu);
      EXPECT_LE(max_relative_error(pooled, pooled_gpu), 1e-6) << "pool";
      Tensor gp = Tensor::empty_like(x), gp_gpu = Tensor::empty(shape, DType::bf16, gpu(), format);
      cpu_backend().global_avg_pool_backward(pooled, gp);
      cuda_backend().global_avg_pool_backward(pooled.to(gpu()), gp_gpu);
      EXPECT_TRUE(bitwise_equal(gp, gp_gpu)) << "pool backward";
    }
}

TEST_F(CudaStorageParity, BatchAssemblyInBf16ChannelsLastIsExact) {
  const ImageSet set = test_support::random_image_set(20, 7);
  const Tensor order = identity_order(20, cpu());
  const kernels::AugmentConfig augment = kernels::cifar10_augment_config(true, true, true);
  for (const BatchStorage storage : {BatchStorage{DType::bf16, kLast}, BatchStorage{DType::f32, kLast},
                                     BatchStorage{DType::bf16, kContiguous}}) {
    const Batch a = assemble_batch(upload(set, cpu()), order, 3, 13, augment, true, 4, 2, storage);
    const Batch b = assemble_batch(upload(set, gpu()), order.to(gpu()), 3, 13, augment, true, 4, 2, storage);
    EXPECT_TRUE(bitwise_equal(a.images, b.images));
  }
}

TEST_F(CudaStorageParity, Bf16ConvolutionsInBothFormatsAndOnBothRoutes) {
  struct Case {
    int64_t batch, channels, size, out_channels, kernel, stride;
  };
  const Case cases[] = {{4, 16, 12, 24, 3, 1}, {4, 16, 12, 24, 3, 2}, {3, 8, 7, 16, 1, 1}, {32, 96, 32, 96, 3, 2}};
  for (const bool graph_api : {true, false}) {
    set_graph_api_padding(graph_api);
    for (const MemoryFormat format : {kLast, kContiguous})
      for (const Case& c : cases) {
        SCOPED_TRACE(fmt::format("{}x{}x{} -> {} k{} s{}, {}{}", c.batch, c.channels, c.size, c.out_channels, c.kernel,
                                 c.stride, format_name(format), graph_api ? "" : ", padded-copy route"));
        const ConvGeometry g = ConvGeometry::make(c.batch, c.channels, c.size, c.size, c.out_channels, c.kernel,
                                                  c.kernel, c.stride, Padding::same);
        const Shape out{g.batch, g.out_channels, g.out_h, g.out_w};
        const Tensor x = stored({c.batch, c.channels, c.size, c.size}, 40, DType::bf16, format);
        const Tensor w = stored({c.out_channels, c.channels, c.kernel, c.kernel}, 41, DType::bf16, format, -0.3, 0.3);
        const Tensor gy = stored(out, 42, DType::bf16, format);
        Tensor y = Tensor::empty(out, DType::bf16, cpu(), format), y_gpu = Tensor::empty(out, DType::bf16, gpu(), format);
        cpu_backend().conv2d_forward(x, w, nullptr, y, g);
        cuda_backend().conv2d_forward(x.to(gpu()), w.to(gpu()), nullptr, y_gpu, g);
        EXPECT_LE(norm_relative_error(y, y_gpu), 2e-3) << "forward";
        Tensor gx = Tensor::empty_like(x), gx_gpu = Tensor::empty(x.shape(), DType::bf16, gpu(), format);
        cpu_backend().conv2d_backward_data(w, gy, gx, g);
        cuda_backend().conv2d_backward_data(w.to(gpu()), gy.to(gpu()), gx_gpu, g);
        EXPECT_LE(norm_relative_error(gx, gx_gpu), 2e-3) << "backward data";
        Tensor gw = Tensor::empty_like(w), gw_gpu = Tensor::empty(w.shape(), DType::bf16, gpu(), format);
        cpu_backend().conv2d_backward_filter(x, gy, gw, g);
        cuda_backend().conv2d_backward_filter(x.to(gpu()), gy.to(gpu()), gw_gpu, g);
        EXPECT_LE(norm_relative_error(gw, gw_gpu), 2e-3) << "backward filter";
      }
  }
  for (const std::string& line : describe_conv_choices(gpu())) std::printf("  %s\n", line.c_str());
}

namespace {

// One f32 convolution case: its inputs (contiguous, on the CPU) and the float64 reference of
// the forward and both backward directions, computed once for every GPU setting.
struct F32ConvCase {
  const char* name;
  int64_t batch, channels, size_h, size_w, out_channels, kernel, stride;
};

struct F32ConvReference {
  ConvGeometry g;
  Tensor x, w, grad_y;                 // f32, contiguous
  Tensor y, grad_x, grad_w;            // f64, contiguous
  double n_forward, n_data, n_filter;  // the reduction length behind one output of each direction
};

F32ConvReference f32_conv_reference(const F32ConvCase& c) {
  F32ConvReference r;
  r.g = ConvGeometry::make(c.batch, c.channels, c.size_h, c.size_w, c.out_channels, c.kernel, c.kernel, c.stride,
                           Padding::same);
  const Shape y_shape{r.g.batch, r.g.out_channels, r.g.out_h, r.g.out_w};
  r.x = test_support::random_tensor({c.batch, c.channels, c.size_h, c.size_w}, 501, -2, 2, DType::f32);
  r.w = test_support::random_tensor({c.out_channels, c.channels, c.kernel, c.kernel}, 502, -2, 2, DType::f32);
  r.grad_y = test_support::random_tensor(y_shape, 503, -2, 2, DType::f32);
  const Tensor x64 = r.x.to(DType::f64), w64 = r.w.to(DType::f64), grad_y64 = r.grad_y.to(DType::f64);
  r.y = Tensor::empty(y_shape, DType::f64, cpu());
  r.grad_x = Tensor::empty(r.x.shape(), DType::f64, cpu());
  r.grad_w = Tensor::empty(r.w.shape(), DType::f64, cpu());
  cpu_backend().conv2d_forward(x64, w64, nullptr, r.y, r.g);
  cpu_backend().conv2d_backward_data(w64, grad_y64, r.grad_x, r.g);
  cpu_backend().conv2d_backward_filter(x64, grad_y64, r.grad_w, r.g);
  r.n_forward = static_cast<double>(c.channels * c.kernel * c.kernel);
  r.n_data = static_cast<double>(c.out_channels * c.kernel * c.kernel);  // at most, where strides overlap fully
  r.n_filter = static_cast<double>(r.g.batch * r.g.out_h * r.g.out_w);
  return r;
}

// `t` on `device` in channels_last (a conversion, exact).
Tensor channels_last_on(const Tensor& t, Device device) {
  Tensor out = Tensor::empty(t.shape(), t.dtype(), cpu(), kLast);
  cpu_backend().convert(t, out);
  return out.to(device);
}

// Strict fp32: 8 * sqrt(n) * 2^-24 (see the top of this file).
double strict_fp32_tolerance(double n) { return 8 * std::sqrt(n) * std::ldexp(1.0, -24); }

const F32ConvCase kF32ConvCases[] = {
    {"3x3 SAME stride 1, awkward sizes", 3, 5, 11, 13, 7, 3, 1},
    {"3x3 SAME stride 2, even sizes (pad 0 before, 1 after)", 2, 6, 12, 16, 5, 3, 2},
    {"real shape: 128x96x32x32, 3x3 SAME stride 1", 128, 96, 32, 32, 96, 3, 1},
    {"real shape: 128x96x32x32, 3x3 SAME stride 2 (pad 0 before, 1 after)", 128, 96, 32, 32, 96, 3, 2},
};

}  // namespace

TEST_F(CudaStorageParity, F32ConvolutionsInChannelsLastWithTf32AndStrictFp32) {
  for (const F32ConvCase& c : kF32ConvCases) {
    const F32ConvReference r = f32_conv_reference(c);
    const Tensor x = channels_last_on(r.x, gpu()), w = channels_last_on(r.w, gpu());
    const Tensor grad_y = channels_last_on(r.grad_y, gpu());
    for (const bool tf32 : {true, false}) {
      SCOPED_TRACE(fmt::format("{}, f32 channels_last, {}", c.name, tf32 ? "TF32" : "strict fp32"));
      set_allow_tf32(tf32);
      Tensor y = Tensor::empty(r.y.shape(), DType::f32, gpu(), kLast);
      cuda_backend().conv2d_forward(x, w, nullptr, y, r.g);
      EXPECT_LE(norm_relative_error(r.y, y), tf32 ? 2e-3 : strict_fp32_tolerance(r.n_forward)) << "forward";
      Tensor grad_x = Tensor::empty(r.x.shape(), DType::f32, gpu(), kLast);
      cuda_backend().conv2d_backward_data(w, grad_y, grad_x, r.g);
      EXPECT_LE(norm_relative_error(r.grad_x, grad_x), tf32 ? 2e-3 : strict_fp32_tolerance(r.n_data))
          << "backward data";
      Tensor grad_w = Tensor::empty(r.w.shape(), DType::f32, gpu(), kLast);
      cuda_backend().conv2d_backward_filter(x, grad_y, grad_w, r.g);
      EXPECT_LE(norm_relative_error(r.grad_w, grad_w), tf32 ? 2e-3 : strict_fp32_tolerance(r.n_filter))
          << "backward filter";
    }
  }
  set_allow_tf32(true);
  for (const std::string& line : describe_conv_choices(gpu())) std::printf("  %s\n", line.c_str());
}

TEST_F(CudaStorageParity, Bf16ChannelsLastAsymmetricPaddingRunsOnTheGraphApi) {
  // All-CNN-C's stride-2 SAME convolution at batch 128 (pad 0 before, 1 after) in bf16 NHWC,
  // the storage bf16 training runs in, forward and both backward directions. Asked for the
  // graph API's pre/post padding, every direction must run on it: cuDNN 9 offers engines for
  // this shape on Hopper, and the padded copy serving it instead means that none was offered,
  // which must show here and fail rather than pass silently. Under the default (the faster of
  // the two routes, timed) the route taken is printed.
  const ConvGeometry g = ConvGeometry::make(128, 96, 32, 32, 96, 3, 3, 2, Padding::same);
  ASSERT_EQ(g.pad_top, 0);
  ASSERT_EQ(g.pad_bottom, 1);
  const Shape out{g.batch, g.out_channels, g.out_h, g.out_w};
  const Tensor x = stored({128, 96, 32, 32}, 60, DType::bf16, kLast);
  const Tensor w = stored({96, 96, 3, 3}, 61, DType::bf16, kLast, -0.3, 0.3);
  const Tensor gy = stored(out, 62, DType::bf16, kLast);
  Tensor y = Tensor::empty(out, DType::bf16, cpu(), kLast), gx = Tensor::empty_like(x), gw = Tensor::empty_like(w);
  cpu_backend().conv2d_forward(x, w, nullptr, y, g);
  cpu_backend().conv2d_backward_data(w, gy, gx, g);
  cpu_backend().conv2d_backward_filter(x, gy, gw, g);
  const Tensor x_gpu = x.to(gpu()), w_gpu = w.to(gpu()), gy_gpu = gy.to(gpu());
  auto run_directions = [&](const char* setting) {
    SCOPED_TRACE(setting);
    Tensor y_gpu = Tensor::empty(out, DType::bf16, gpu(), kLast);
    cuda_backend().conv2d_forward(x_gpu, w_gpu, nullptr, y_gpu, g);
    EXPECT_LE(norm_relative_error(y, y_gpu), 2e-3) << "forward";
    Tensor gx_gpu = Tensor::empty(x.shape(), DType::bf16, gpu(), kLast);
    cuda_backend().conv2d_backward_data(w_gpu, gy_gpu, gx_gpu, g);
    EXPECT_LE(norm_relative_error(gx, gx_gpu), 2e-3) << "backward data";
    Tensor gw_gpu = Tensor::empty(w.shape(), DType::bf16, gpu(), kLast);
    cuda_backend().conv2d_backward_filter(x_gpu, gy_gpu, gw_gpu, g);
    EXPECT_LE(norm_relative_error(gw, gw_gpu), 2e-3) << "backward filter";
  };
#if CONVLAB_WITH_CUDA
  using Route = CudaContext::AsymmetricRoute;
  CudaContext& ctx = *static_cast<CudaContext*>(context_.get());
  ctx.set_asymmetric_route(Route::graph_api);
  run_directions("graph API asked for");
  ctx.set_asymmetric_route(Route::fastest);
  run_directions("the default: the faster route");
  for (const std::string& line : describe_conv_choices(gpu())) std::printf("  %s\n", line.c_str());
  int directions = 0;
  for (const backend_cuda::ConvChoice& choice : backend_cuda::conv_choices(ctx)) {
    if (choice.geometry != g.str() || choice.storage.dtype != DType::bf16 || !choice.storage.channels_last) continue;
    const char* direction = backend_cuda::direction_name(choice.direction);
    if (choice.asymmetric_route == static_cast<int>(Route::fastest)) {
      std::printf("  default route, %s: %s, %s\n", direction, choice.route.c_str(), choice.algorithm.c_str());
      continue;
    }
    if (choice.asymmetric_route != static_cast<int>(Route::graph_api)) continue;
    ++directions;
    EXPECT_EQ(choice.route, "graph API (pre/post padding)")
        << direction << " ran on " << choice.route << " (" << choice.algorithm
        << "): cuDNN's graph API did not serve it: " << choice.graph_unavailable;
  }
  EXPECT_EQ(directions, 3) << "forward, backward data and backward filter each report their route";
#else
  run_directions("no CUDA in this build");
#endif
}

namespace {

struct Bf16Run {
  std::vector<double> losses;
  std::vector<Tensor> params;
};

Bf16Run bf16_steps(Device device, int steps) {
  models::AllCnnCOptions o;
  o.width1 = 16;
  o.width2 = 32;
  o.seed = 12;
  models::AllCnnC model(o);
  model.to(device);
  SgdConfig config{0.9, true, 2.0, 0.0};
  config.l2 = 1e-4;
  optim::Sgd sgd(model.parameters(), config);
  StepOptions options;
  options.seed = 12;
  options.batch_size = 16;
  options.input = {DType::bf16, kLast};
  TrainStep step(model, sgd, options, device, 0);
  step.set_lr(0.05);
  const ImageSet set = test_support::random_image_set(32, 8);
  const DeviceImageSet data = upload(set, device);
  const Tensor order = identity_order(32, device);
  const kernels::AugmentConfig augment = kernels::cifar10_augment_config(true, true, true);
  Bf16Run run;
  for (int s = 0; s < steps; ++s) {
    step.reset_sums();
    step.run(assemble_batch(data, order, (s % 2) * 16, 16, augment, true, 12, s / 2, options.input));
    run.losses.push_back(step.mean_loss(16));
  }
  for (Variable* p : model.parameters()) run.params.push_back(p->value().to(cpu()));
  return run;
}

}  // namespace

TEST_F(CudaStorageParity, Bf16TrainingStepsMatchTheCpu) {
  const Bf16Run a = bf16_steps(cpu(), 4), b = bf16_steps(gpu(), 4);
  for (size_t i = 0; i < a.losses.size(); ++i)
    EXPECT_NEAR(b.losses[i], a.losses[i], 2e-2 * std::abs(a.losses[i])) << "update " << i;
  for (size_t i = 0; i < a.params.size(); ++i) {
    EXPECT_EQ(b.params[i].dtype(), DType::f32) << "master weights stay f32";
    EXPECT_LE(norm_relative_error(a.params[i], b.params[i]), 2e-2) << "parameter " << i;
  }
}
