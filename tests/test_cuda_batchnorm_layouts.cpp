// CUDA BatchNorm and the convolution bias in every storage training uses -- f32 and bf16,
// NCHW and NHWC (channels_last) -- against the CPU backend, at small awkward shapes (C = 3,
// 16, 33, 96; odd H and W; batch 1) and at real ones (128x96x32x32, 128x16x32x32,
// 128x192x8x8). Skips when no GPU answers.
//
// Tolerances:
// - exact (bitwise) where the CPU forms the output with the same per-element code
//   (kernels/batchnorm.h) from the same per-channel values: the normalised output given the
//   GPU's statistics, the input gradient given the GPU's channel sums, evaluation, and the
//   bias added into f32 or bf16 (the CUDA sources are built with --fmad=false);
// - the training statistics (mean, inv_std, running averages) and the channel sums (grad
//   gamma, grad beta): 1e-5 of the largest magnitude, as test_cuda_parity.cpp: double sums in
//   another order rounded to float at the end, and for the variance a one-pass shifted
//   formula against the CPU's two passes, then a float sqrt;
// - the conv bias gradient: 1e-6 of the largest magnitude: double sums of the same values in
//   another order, only the final rounding to float differs;
// - the outputs against the CPU's own (formed from statistics that differ in the last bits):
//   1e-5 in f32; in bf16 two bf16 steps (8e-3) of the largest magnitude, as a float may land
//   on the other side of a bf16 rounding boundary.
// Determinism: every GPU op runs twice on the same inputs and must give the same bits.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "framework/backend/backend.h"
#include "framework/backend/conv_geometry.h"
#include "framework/backend/cuda_device.h"
#include "framework/core/error.h"
#include "kernels/activation.h"
#include "kernels/batchnorm.h"
#include "tests/support/gradient_check.h"
#include "tests/support/tensor_compare.h"

#if CONVLAB_WITH_CUDA
#include "framework/backend/cuda/conv2d_kernels.h"
#include "framework/backend/cuda/cuda_context.h"
#endif

using namespace convlab;

namespace {

using test_support::bitwise_equal;
using test_support::max_relative_error;

constexpr MemoryFormat kLast = MemoryFormat::channels_last;
constexpr MemoryFormat kContiguous = MemoryFormat::contiguous;

// A CPU tensor in the given storage from uniform values.
Tensor stored(const Shape& shape, uint64_t seed, DType dtype, MemoryFormat format, double lo = -2, double hi = 2) {
  const Tensor f32 = test_support::random_tensor(shape, seed, lo, hi, DType::f32);
  Tensor out = Tensor::empty(f32.shape(), dtype, cpu(), format);
  cpu_backend().convert(f32, out);
  return out;
}

// The values of t (any device, dtype, format) as a contiguous f32 CPU tensor: exact.
Tensor f32_values(const Tensor& t) {
  const Tensor host = t.to(cpu());
  Tensor out = Tensor::empty(host.shape(), DType::f32, cpu());
  cpu_backend().convert(host, out);
  return out;
}

// A contiguous f32 CPU tensor stored as `dtype` in `format`, rounded once (kernels/bf16.h).
Tensor stored_as(const Tensor& f32, DType dtype, MemoryFormat format) {
  Tensor out = Tensor::empty(f32.shape(), dtype, cpu(), format);
  cpu_backend().convert(f32, out);
  return out;
}

struct Planes {
  int64_t batch, channels, plane;
  explicit Planes(const Shape& s) : batch(s[0]), channels(s[1]), plane(s.numel() / (s[0] * s[1])) {}
};

// The CPU's per-element normalisation (framework/backend/cpu/batchnorm.cpp) from the given
// per-channel values; x and the result contiguous f32.
Tensor reference_apply(const Tensor& x, const Tensor& mean, const Tensor& inv_std, const Tensor& gamma,
                       const Tensor& beta, bool relu) {
  const Planes p(x.shape());
  Tensor y = Tensor::empty(x.shape(), DType::f32, cpu());
  const float *px = x.host<float>(), *m = mean.host<float>(), *inv = inv_std.host<float>();
  const float *g = gamma.host<float>(), *b = beta.host<float>();
  float* py = y.host<float>();
  for (int64_t n = 0; n < p.batch; ++n)
    for (int64_t c = 0; c < p.channels; ++c)
      for (int64_t i = 0; i < p.plane; ++i) {
        const int64_t at = (n * p.channels + c) * p.plane + i;
        const float z = kernels::batchnorm_apply(px[at], m[c], inv[c], g[c], b[c]);
        py[at] = relu ? kernels::relu(z) : z;
      }
  return y;
}

// The CPU's per-element input gradient from the given channel sums; y (the fused ReLU's
// output) may be undefined. Contiguous f32.
Tensor reference_grad_input(const Tensor& x, const Tensor& y, const Tensor& grad_y, const Tensor& mean,
                            const Tensor& inv_std, const Tensor& gamma, const Tensor& grad_gamma,
                            const Tensor& grad_beta) {
  const Planes p(x.shape());
  const float inv_count = 1.0f / static_cast<float>(p.batch * p.plane);  // as the CPU forms it
  Tensor gx = Tensor::empty(x.shape(), DType::f32, cpu());
  const float *px = x.host<float>(), *py = y.defined() ? y.host<float>() : nullptr, *pgy = grad_y.host<float>();
  const float *m = mean.host<float>(), *inv = inv_std.host<float>(), *g = gamma.host<float>();
  const float *gg = grad_gamma.host<float>(), *gb = grad_beta.host<float>();
  float* out = gx.host<float>();
  for (int64_t n = 0; n < p.batch; ++n)
    for (int64_t c = 0; c < p.channels; ++c)
      for (int64_t i = 0; i < p.plane; ++i) {
        const int64_t at = (n * p.channels + c) * p.plane + i;
        const float gated = py ? kernels::relu_grad(py[at], pgy[at]) : pgy[at];
        out[at] = kernels::batchnorm_grad_input(px[at], gated, m[c], inv[c], g[c], gg[c], gb[c], inv_count);
      }
  return gx;
}

std::string describe_case(const Shape& shape, DType dtype, MemoryFormat format, bool relu) {
  return shape.str() + " " + dtype_name(dtype) + " " + format_name(format) + (relu ? " with ReLU" : "");
}

// Small awkward shapes: C not a multiple of 32 (or of the 8 bf16 lanes of a vector), fewer
// channels than a warp, odd planes, a single image.
const std::vector<Shape>& small_shapes() {
  static const std::vector<Shape> shapes{Shape({4, 3, 7, 9}),  Shape({1, 16, 5, 7}),   Shape({3, 33, 9, 11}),
                                         Shape({2, 96, 5, 3}), Shape({1, 3, 31, 33}), Shape({5, 40, 1, 1})};
  return shapes;
}
// The shapes training runs: All-CNN-C's first layers, ResNet-20's first and last stages.
const std::vector<Shape>& real_shapes() {
  static const std::vector<Shape> shapes{Shape({128, 96, 32, 32}), Shape({128, 16, 32, 32}),
                                         Shape({128, 192, 8, 8})};
  return shapes;
}

class CudaBatchNormLayouts : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU";
    context_ = create_cuda_context(0);
  }
  Device gpu() { return Device(context_.get()); }
  Tensor empty_gpu(const Shape& shape, DType dtype = DType::f32, MemoryFormat format = kContiguous) {
    return Tensor::empty(shape, dtype, gpu(), format);
  }

  // Training forward, evaluation and backward of one case on both devices.
  void check_batchnorm(const Shape& shape, DType dtype, MemoryFormat format, bool relu, uint64_t seed) {
    SCOPED_TRACE(describe_case(shape, dtype, format, relu));
    const int64_t channels = shape[1];
    const double output_tolerance = dtype == DType::bf16 ? 8e-3 : 1e-5;
    const Tensor x = stored(shape, seed, dtype, format, 0.5, 3.5);  // a mean well away from 0
    const Tensor grad_y = stored(shape, seed + 1, dtype, format);
    const Tensor gamma = test_support::random_tensor({channels}, seed + 2, 0.5, 1.5, DType::f32);
    const Tensor beta = test_support::random_tensor({channels}, seed + 3, -0.5, 0.5, DType::f32);
    const Tensor running_mean = test_support::random_tensor({channels}, seed + 4, -1, 1, DType::f32);
    const Tensor running_var = test_support::random_tensor({channels}, seed + 5, 0.5, 1.5, DType::f32);
    const Tensor x_gpu = x.to(gpu()), grad_y_gpu = grad_y.to(gpu()), gamma_gpu = gamma.to(gpu());
    const Tensor beta_gpu = beta.to(gpu());

    // ---- training forward ----
    struct Forward {
      Tensor y, mean, inv_std, running_mean, running_var;
    };
    auto forward_gpu = [&] {
      Forward f{empty_gpu(shape, dtype, format), empty_gpu({channels}), empty_gpu({channels}), running_mean.to(gpu()),
                running_var.to(gpu())};
      cuda_backend().batchnorm_forward_train(x_gpu, gamma_gpu, beta_gpu, 1e-5, 0.1, relu, f.y, f.mean, f.inv_std,
                                             f.running_mean, f.running_var);
      return f;
    };
    const Forward f = forward_gpu(), again = forward_gpu();
    EXPECT_TRUE(bitwise_equal(f.y, again.y)) << "y repeats";
    EXPECT_TRUE(bitwise_equal(f.mean, again.mean)) << "mean repeats";
    EXPECT_TRUE(bitwise_equal(f.inv_std, again.inv_std)) << "inv_std repeats";
    EXPECT_TRUE(bitwise_equal(f.running_mean, again.running_mean)) << "running mean repeats";
    EXPECT_TRUE(bitwise_equal(f.running_var, again.running_var)) << "running var repeats";

    Tensor y = Tensor::empty(shape, dtype, cpu(), format), mean = Tensor::empty({channels}, DType::f32, cpu());
    Tensor inv_std = mean.clone(), rm = running_mean.clone(), rv = running_var.clone();
    cpu_backend().batchnorm_forward_train(x, gamma, beta, 1e-5, 0.1, relu, y, mean, inv_std, rm, rv);
    EXPECT_LE(max_relative_error(mean, f.mean), 1e-5) << "mean";
    EXPECT_LE(max_relative_error(inv_std, f.inv_std), 1e-5) << "inv_std";
    EXPECT_LE(max_relative_error(rm, f.running_mean), 1e-5) << "running mean";
    EXPECT_LE(max_relative_error(rv, f.running_var), 1e-5) << "running var";
    EXPECT_LE(max_relative_error(y, f.y), output_tolerance) << "y";
    // Given the GPU's statistics, the CPU's per-element code gives the same bits.
    const Tensor gpu_mean = f.mean.to(cpu()), gpu_inv_std = f.inv_std.to(cpu());
    const Tensor y_ref = stored_as(reference_apply(f32_values(x), gpu_mean, gpu_inv_std, gamma, beta, relu), dtype,
                                   format);
    EXPECT_TRUE(bitwise_equal(y_ref, f.y)) << "y from the GPU's statistics";

    // ---- evaluation: per element from the same running statistics ----
    auto eval_gpu = [&] {
      Tensor out = empty_gpu(shape, dtype, format);
      cuda_backend().batchnorm_forward_eval(x_gpu, gamma_gpu, beta_gpu, running_mean.to(gpu()),
                                            running_var.to(gpu()), 1e-5, relu, out);
      return out;
    };
    const Tensor e_gpu = eval_gpu();
    EXPECT_TRUE(bitwise_equal(e_gpu, eval_gpu())) << "eval repeats";
    Tensor e = Tensor::empty(shape, dtype, cpu(), format);
    cpu_backend().batchnorm_forward_eval(x, gamma, beta, running_mean, running_var, 1e-5, relu, e);
    EXPECT_TRUE(bitwise_equal(e, e_gpu)) << "eval";

    // ---- backward from the GPU's saved statistics and, fused, its output ----
    const Tensor y_host = f.y.to(cpu());
    struct Backward {
      Tensor grad_x, grad_gamma, grad_beta;
    };
    auto backward_gpu = [&] {
      Backward b{empty_gpu(shape, dtype, format), empty_gpu({channels}), empty_gpu({channels})};
      cuda_backend().batchnorm_backward(x_gpu, relu ? &f.y : nullptr, gamma_gpu, f.mean, f.inv_std, grad_y_gpu,
                                        b.grad_x, b.grad_gamma, b.grad_beta);
      return b;
    };
    const Backward b = backward_gpu(), b_again = backward_gpu();
    EXPECT_TRUE(bitwise_equal(b.grad_x, b_again.grad_x)) << "grad x repeats";
    EXPECT_TRUE(bitwise_equal(b.grad_gamma, b_again.grad_gamma)) << "grad gamma repeats";
    EXPECT_TRUE(bitwise_equal(b.grad_beta, b_again.grad_beta)) << "grad beta repeats";

    Tensor gx = Tensor::empty(shape, dtype, cpu(), format), gg = Tensor::empty({channels}, DType::f32, cpu());
    Tensor gb = gg.clone();
    cpu_backend().batchnorm_backward(x, relu ? &y_host : nullptr, gamma, gpu_mean, gpu_inv_std, grad_y, gx, gg, gb);
    EXPECT_LE(max_relative_error(gg, b.grad_gamma), 1e-5) << "grad gamma";
    EXPECT_LE(max_relative_error(gb, b.grad_beta), 1e-5) << "grad beta";
    EXPECT_LE(max_relative_error(gx, b.grad_x), output_tolerance) << "grad x";
    // Given the GPU's channel sums, the CPU's per-element code gives the same bits.
    const Tensor gx_ref = stored_as(reference_grad_input(f32_values(x), relu ? f32_values(y_host) : Tensor(),
                                                         f32_values(grad_y), gpu_mean, gpu_inv_std, gamma,
                                                         b.grad_gamma.to(cpu()), b.grad_beta.to(cpu())),
                                    dtype, format);
    EXPECT_TRUE(bitwise_equal(gx_ref, b.grad_x)) << "grad x from the GPU's sums";
  }

  void check_bias_gradient(const Shape& shape, DType dtype, MemoryFormat format, uint64_t seed) {
    SCOPED_TRACE(describe_case(shape, dtype, format, false));
    const Tensor grad_y = stored(shape, seed, dtype, format, -1, 3);  // sums well away from 0
    const Tensor grad_y_gpu = grad_y.to(gpu());
    Tensor gb = Tensor::empty({shape[1]}, DType::f32, cpu());
    Tensor gb_gpu = empty_gpu({shape[1]}), gb_again = empty_gpu({shape[1]});
    cpu_backend().conv2d_backward_bias(grad_y, gb);
    cuda_backend().conv2d_backward_bias(grad_y_gpu, gb_gpu);
    cuda_backend().conv2d_backward_bias(grad_y_gpu, gb_again);
    EXPECT_LE(max_relative_error(gb, gb_gpu), 1e-6);
    EXPECT_TRUE(bitwise_equal(gb_gpu, gb_again)) << "repeats";
  }

  std::unique_ptr<DeviceContext> context_;
};

}  // namespace

TEST_F(CudaBatchNormLayouts, SmallAwkwardShapes) {
  uint64_t seed = 100;
  for (const Shape& shape : small_shapes())
    for (const DType dtype : {DType::f32, DType::bf16})
      for (const MemoryFormat format : {kContiguous, kLast})
        for (const bool relu : {false, true}) check_batchnorm(shape, dtype, format, relu, seed += 10);
}

TEST_F(CudaBatchNormLayouts, RealShapes) {
  // Each storage runs once per shape; the fused ReLU alternates so that both forms meet every
  // storage across the shapes.
  uint64_t seed = 500;
  bool relu = false;
  for (const Shape& shape : real_shapes()) {
    for (const DType dtype : {DType::f32, DType::bf16})
      for (const MemoryFormat format : {kContiguous, kLast}) {
        check_batchnorm(shape, dtype, format, relu, seed += 10);
        relu = !relu;
      }
    relu = !relu;
  }
}

TEST_F(CudaBatchNormLayouts, ConvBiasGradient) {
  uint64_t seed = 900;
  std::vector<Shape> shapes = small_shapes();
  shapes.insert(shapes.end(), real_shapes().begin(), real_shapes().end());
  for (const Shape& shape : shapes)
    for (const DType dtype : {DType::f32, DType::bf16})
      for (const MemoryFormat format : {kContiguous, kLast}) check_bias_gradient(shape, dtype, format, seed += 10);
  // An empty batch: every channel's sum is 0, as on the CPU.
  Tensor gb = Tensor::full({5}, DType::f32, gpu(), 7.0);
  cuda_backend().conv2d_backward_bias(empty_gpu({0, 5, 3, 3}, DType::bf16, kLast), gb);
  EXPECT_TRUE(bitwise_equal(Tensor::zeros({5}, DType::f32, cpu()), gb));
}

TEST_F(CudaBatchNormLayouts, FoldBatchNormChecksLikeTheCpu) {
  const Tensor w = test_support::random_tensor({4, 3, 3, 3}, 1, -1, 1, DType::f32);
  const Tensor per_channel = test_support::random_tensor({4}, 2, 0.5, 1.5, DType::f32);
  const Tensor short_bias = test_support::random_tensor({5}, 3, -1, 1, DType::f32);
  Tensor fw = Tensor::empty_like(w), fb = per_channel.clone();
  EXPECT_THROW(cpu_backend().fold_batchnorm(w, &short_bias, per_channel, per_channel, per_channel, per_channel, 1e-5,
                                            fw, fb),
               Error);
  const Tensor w_gpu = w.to(gpu()), pc_gpu = per_channel.to(gpu()), short_bias_gpu = short_bias.to(gpu());
  Tensor fw_gpu = Tensor::empty_like(w_gpu), fb_gpu = pc_gpu.clone();
  EXPECT_THROW(cuda_backend().fold_batchnorm(w_gpu, &short_bias_gpu, pc_gpu, pc_gpu, pc_gpu, pc_gpu, 1e-5, fw_gpu,
                                             fb_gpu),
               Error)
      << "a bias of the wrong length";

  // No output channels: an error, not a division by zero.
  const Tensor none = empty_gpu({0, 3, 3, 3}), no_channels = empty_gpu({0});
  Tensor none_out = empty_gpu({0, 3, 3, 3}), no_bias_out = empty_gpu({0});
  EXPECT_THROW(cuda_backend().fold_batchnorm(none, nullptr, no_channels, no_channels, no_channels, no_channels, 1e-5,
                                             none_out, no_bias_out),
               Error)
      << "no output channels";

  // No weights but output channels (K, 0, R, S): nothing to scale, the biases still fold.
  const Tensor empty_w = Tensor::empty({4, 0, 3, 3}, DType::f32, cpu());
  const Tensor bias = test_support::random_tensor({4}, 4, -1, 1, DType::f32);
  Tensor efw = Tensor::empty_like(empty_w), efb = per_channel.clone();
  cpu_backend().fold_batchnorm(empty_w, &bias, per_channel, per_channel, per_channel, per_channel, 1e-5, efw, efb);
  Tensor efw_gpu = empty_gpu({4, 0, 3, 3}), efb_gpu = pc_gpu.clone();
  const Tensor bias_gpu = bias.to(gpu());
  cuda_backend().fold_batchnorm(empty_w.to(gpu()), &bias_gpu, pc_gpu, pc_gpu, pc_gpu, pc_gpu, 1e-5, efw_gpu, efb_gpu);
  EXPECT_TRUE(bitwise_equal(efb, efb_gpu));
}

TEST_F(CudaBatchNormLayouts, BackwardRejectsAHostOutput) {
  const Shape shape{2, 5, 3, 3};
  const Tensor x = stored(shape, 1, DType::f32, kContiguous).to(gpu()), g = stored(shape, 2, DType::f32, kContiguous);
  const Tensor y_host = stored(shape, 3, DType::f32, kContiguous);  // on the CPU
  const Tensor per_channel = test_support::random_tensor({5}, 4, 0.5, 1.5, DType::f32).to(gpu());
  Tensor gx = empty_gpu(shape), gg = empty_gpu({5}), gb = empty_gpu({5});
  EXPECT_THROW(cuda_backend().batchnorm_backward(x, &y_host, per_channel, per_channel, per_channel, g.to(gpu()), gx,
                                                 gg, gb),
               Error);
}

#if CONVLAB_WITH_CUDA

namespace {

// y = conv + bias[k] as the CPU's convolution forms it: the fp32 sum, rounded once into y's storage.
Tensor reference_bias_into(const Tensor& conv, const Tensor& bias, DType dtype, MemoryFormat format) {
  Tensor sum = f32_values(conv);
  const Planes p(sum.shape());
  float* out = sum.host<float>();
  const float* b = bias.host<float>();
  for (int64_t n = 0; n < p.batch; ++n)
    for (int64_t k = 0; k < p.channels; ++k)
      for (int64_t i = 0; i < p.plane; ++i) out[(n * p.channels + k) * p.plane + i] += b[k];
  return stored_as(sum, dtype, format);
}

}  // namespace

TEST_F(CudaBatchNormLayouts, AddChannelBiasIntoIsTheCpuBiasAdd) {
  const cudaStream_t stream = static_cast<CudaContext*>(context_.get())->stream();
  uint64_t seed = 1300;
  std::vector<Shape> shapes = small_shapes();
  shapes.insert(shapes.end(), real_shapes().begin(), real_shapes().end());
  for (const Shape& shape : shapes)
    for (const DType dtype : {DType::f32, DType::bf16})
      for (const MemoryFormat format : {kContiguous, kLast}) {
        SCOPED_TRACE(describe_case(shape, dtype, format, false));
        const Tensor conv = stored(shape, seed += 10, DType::f32, format, -3, 3);
        const Tensor bias = test_support::random_tensor({shape[1]}, seed + 1, -1, 1, DType::f32);
        const Tensor conv_gpu = conv.to(gpu()), bias_gpu = bias.to(gpu());
        Tensor y = empty_gpu(shape, dtype, format), y_again = empty_gpu(shape, dtype, format);
        backend_cuda::add_channel_bias_into(conv_gpu, bias_gpu, y, stream);
        backend_cuda::add_channel_bias_into(conv_gpu, bias_gpu, y_again, stream);
        EXPECT_TRUE(bitwise_equal(reference_bias_into(conv, bias, dtype, format), y));
        EXPECT_TRUE(bitwise_equal(y, y_again)) << "repeats";
        if (dtype == DType::f32) {  // in place
          Tensor in_place = conv_gpu.clone();
          backend_cuda::add_channel_bias_into(in_place, bias_gpu, in_place, stream);
          EXPECT_TRUE(bitwise_equal(y, in_place)) << "in place";
        }
      }
}

TEST_F(CudaBatchNormLayouts, AddChannelBiasIntoMatchesTheCpuConvolution) {
  // The CPU convolution with a bias, in bf16 and f32, either format, equals the f32
  // convolution without one plus the bias added on the GPU.
  const cudaStream_t stream = static_cast<CudaContext*>(context_.get())->stream();
  for (const int64_t k : {int64_t{3}, int64_t{16}, int64_t{33}})
    for (const DType dtype : {DType::f32, DType::bf16})
      for (const MemoryFormat format : {kContiguous, kLast}) {
        SCOPED_TRACE(std::to_string(k) + " output channels, " + dtype_name(dtype) + " " + format_name(format));
        const ConvGeometry g = ConvGeometry::make(2, 5, 9, 7, k, 3, 3, 1, Padding::same);
        const Tensor x = stored({2, 5, 9, 7}, 40 + k, dtype, format);
        const Tensor w = stored({k, 5, 3, 3}, 41 + k, dtype, kContiguous);
        const Tensor bias = test_support::random_tensor({k}, 42 + k, -1, 1, DType::f32);
        const Shape out{2, k, g.out_h, g.out_w};
        Tensor y_cpu = Tensor::empty(out, dtype, cpu(), format);
        cpu_backend().conv2d_forward(x, w, &bias, y_cpu, g);
        // The same convolution in f32 on the CPU, without the bias, then the bias on the GPU.
        Tensor conv = Tensor::empty(out, DType::f32, cpu());
        cpu_backend().conv2d_forward(f32_values(x), f32_values(w), nullptr, conv, g);
        Tensor y = empty_gpu(out, dtype, format);
        backend_cuda::add_channel_bias_into(stored_as(conv, DType::f32, format).to(gpu()), bias.to(gpu()), y, stream);
        EXPECT_TRUE(bitwise_equal(y_cpu, y));
      }
}

TEST_F(CudaBatchNormLayouts, AddChannelBiasIntoChecksItsOperands) {
  const cudaStream_t stream = static_cast<CudaContext*>(context_.get())->stream();
  const Tensor conv = empty_gpu({2, 4, 3, 3}), bias = empty_gpu({4});
  Tensor other_format = empty_gpu({2, 4, 3, 3}, DType::bf16, kLast);
  EXPECT_THROW(backend_cuda::add_channel_bias_into(conv, bias, other_format, stream), Error) << "format";
  Tensor other_shape = empty_gpu({2, 4, 3, 5});
  EXPECT_THROW(backend_cuda::add_channel_bias_into(conv, bias, other_shape, stream), Error) << "shape";
  Tensor y = empty_gpu({2, 4, 3, 3});
  EXPECT_THROW(backend_cuda::add_channel_bias_into(conv, empty_gpu({5}), y, stream), Error) << "bias length";
  EXPECT_THROW(backend_cuda::add_channel_bias_into(empty_gpu({2, 4, 3, 3}, DType::bf16), bias, y, stream), Error)
      << "a bf16 convolution";
  EXPECT_THROW(backend_cuda::add_channel_bias_into(conv.to(cpu()), bias, y, stream), Error) << "a host convolution";
}

#endif  // CONVLAB_WITH_CUDA
