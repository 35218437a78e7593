// CUDA convolution through cuDNN (cross-correlation, f32 or bf16 data, fp32 accumulation,
// NCHW or NHWC). Each shape, storage and setting has a plan (conv_plan.h); each direction of
// it runs the fastest of the candidates its routes offer (conv_choice.h): the legacy
// descriptors (conv_legacy.h), and for more padding on one side (XLA's SAME at stride 2) also
// cuDNN's graph API (conv_graph.h). What ran is reported per plan (conv_report.h).
#include <algorithm>
#include <utility>

#include "framework/backend/cuda/conv2d_kernels.h"
#include "framework/backend/cuda/conv_choice.h"
#include "framework/backend/cuda/conv_legacy.h"
#include "framework/backend/cuda/cuda_check.h"
#include "framework/backend/cuda/cuda_context.h"
#include "framework/backend/cuda/cuda_ops.h"
#include "framework/backend/cuda_device.h"
#include "framework/backend/cuda/kernel_launch.h"

namespace convlab::backend_cuda {

const char* direction_name(ConvDirection direction) {
  switch (direction) {
    case ConvDirection::forward: return "forward";
    case ConvDirection::backward_data: return "backward data";
    case ConvDirection::backward_filter: return "backward filter";
  }
  return "?";
}

const char* route_name(ConvRoute route) {
  switch (route) {
    case ConvRoute::legacy: return "legacy";
    case ConvRoute::padded_copy: return "legacy, padded copy";
    case ConvRoute::graph_api: return "graph API (pre/post padding)";
  }
  return "?";
}

ConvPlan::ConvPlan() = default;
ConvPlan::~ConvPlan() = default;

namespace {

void check_operands(const Tensor& x, const Tensor& w, const Tensor& y, const ConvGeometry& g, const char* op) {
  check_storage({&x, &w, &y}, op);
  CONVLAB_CHECK(x.device() == w.device() && x.device() == y.device(), "{}: operands on different devices", op);
  CONVLAB_CHECK(x.dtype() == w.dtype() && x.dtype() == y.dtype() && x.format() == w.format() &&
                    x.format() == y.format(),
                "{}: x {}, w {} and y {} must share one dtype and memory format", op, x.describe(), w.describe(),
                y.describe());
  CONVLAB_CHECK(x.shape() == Shape({g.batch, g.in_channels, g.in_h, g.in_w}) &&
                    w.shape() == Shape({g.out_channels, g.in_channels, g.kernel_h, g.kernel_w}) &&
                    y.shape() == Shape({g.batch, g.out_channels, g.out_h, g.out_w}),
                "{}: x {}, w {}, y {} do not fit {}", op, x.describe(), w.describe(), y.describe(), g.str());
  // The legacy cuDNN API indexes tensors with int.
  const Lowering l = lower(g);
  const int64_t padded = g.batch * g.in_channels * l.padded_h * l.padded_w;
  CONVLAB_CHECK(std::max({padded, y.numel(), w.numel()}) < (int64_t{1} << 31),
                "{}: {} has tensors of 2^31 or more elements, beyond cuDNN's legacy API: use a smaller batch", op,
                g.str());
}

// The plan of a shape and storage in the context's current settings, made on first use.
// The settings are part of the key: switching TF32, determinism or the asymmetric-padding
// route gives other plans, never ones chosen under other settings.
ConvPlan& plan_for(CudaContext& ctx, const ConvGeometry& g, const Tensor& x) {
  const ConvStorage storage{x.dtype(), x.channels_last()};
  const ConvKey key{g.batch,        g.in_channels,   g.in_h,         g.in_w,
                    g.out_channels, g.kernel_h,      g.kernel_w,     g.pad_top,
                    g.pad_left,     g.pad_bottom,    g.pad_right,    g.stride_h,
                    g.stride_w,     int64_t(storage.dtype), storage.channels_last, ctx.allow_tf32(),
                    ctx.deterministic(), static_cast<int64_t>(ctx.asymmetric_route())};
  auto& plans = ctx.conv_plans();
  auto it = plans.find(key);
  if (it != plans.end()) return *it->second;
  auto plan = std::make_unique<ConvPlan>();
  plan->key = key;
  plan->geometry = g;
  plan->storage = storage;
  return *plans.emplace(key, std::move(plan)).first->second;
}

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y, const ConvGeometry& g) {
  const char* op = "conv2d_forward";
  check_operands(x, w, y, g, op);
  if (bias) {
    check_f32({bias}, op);
    CONVLAB_CHECK(bias->device() == x.device(), "{}: bias {} is not on {}", op, bias->describe(), x.device().name());
    CONVLAB_CHECK(bias->numel() == g.out_channels, "{}: bias {} for {} channels", op, bias->describe(), g.out_channels);
  }
  if (y.numel() == 0) return;
  CudaContext& ctx = cuda_context(x.device());
  if (bias && x.dtype() == DType::bf16) {
    // cuDNN's bf16 output is rounded before the bias could be added, and adding it would
    // round again; the CPU adds the bias in fp32 and rounds once. So the bf16 values (exact
    // in fp32, and in TF32) are convolved in fp32 and rounded once, with the bias.
    Tensor x32 = Tensor::empty(x.shape(), DType::f32, x.device(), x.format());  // (N, C, H, W)
    Tensor w32 = Tensor::empty(w.shape(), DType::f32, w.device(), w.format());  // (K, C, R, S)
    Tensor y32 = Tensor::empty(y.shape(), DType::f32, y.device(), y.format());  // (N, K, OH, OW)
    convert(x, x32);
    convert(w, w32);
    conv2d_forward(x32, w32, nullptr, y32, g);
    add_channel_bias_into(y32, *bias, y, ctx.stream());
    return;
  }
  run_conv_direction(ctx, plan_for(ctx, g, x), ConvDirection::forward, x, w, y, op);
  if (bias) add_channel_bias(y, *bias, ctx.stream());
}

void conv2d_backward_data(const Tensor& w, const Tensor& grad_y, Tensor& grad_x, const ConvGeometry& g) {
  const char* op = "conv2d_backward_data";
  check_operands(grad_x, w, grad_y, g, op);
  if (grad_x.numel() == 0) return;
  CudaContext& ctx = cuda_context(w.device());
  run_conv_direction(ctx, plan_for(ctx, g, grad_x), ConvDirection::backward_data, w, grad_y, grad_x, op);
}

void conv2d_backward_filter(const Tensor& x, const Tensor& grad_y, Tensor& grad_w, const ConvGeometry& g) {
  const char* op = "conv2d_backward_filter";
  check_operands(x, grad_w, grad_y, g, op);
  if (grad_w.numel() == 0) return;
  CudaContext& ctx = cuda_context(x.device());
  if (x.numel() == 0) {  // no images: the sum over them is zero
    fill(grad_w, 0.0);
    return;
  }
  run_conv_direction(ctx, plan_for(ctx, g, x), ConvDirection::backward_filter, x, grad_y, grad_w, op);
}

}  // namespace convlab::backend_cuda
