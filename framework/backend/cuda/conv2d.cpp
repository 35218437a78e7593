// CUDA convolution through cuDNN (NCHW, cross-correlation, fp32 data and accumulation).
//
// Padding: cuDNN's 2-D descriptor pads both sides of an axis equally. The smaller of the two
// paddings goes to cuDNN; where one side has more (XLA SAME with stride 2 on an even size
// pads 0 before and 1 after), the input is first copied into a scratch tensor with the
// excess zeros written in, and the input gradient is computed for that padded input and
// cropped back. Symmetric geometries (stride-1 SAME, VALID, 1x1) run on the tensors as they are.
//
// Algorithms: chosen once per shape and math mode from cuDNN's heuristics
// (cudnnGet*Algorithm_v7), in their order of preference, keeping only deterministic ones
// whose workspace fits the context's limit, plus one plain deterministic algorithm as a last
// resort; so a run repeats bitwise, and the choice does not depend on timings (as
// cudnnFind* would make it). If cuDNN refuses the chosen one at run time, the next is taken.
// Math: TF32 tensor cores are allowed unless the context says strict fp32 (CUDNN_FMA_MATH).
#include <algorithm>
#include <climits>
#include <utility>

#include "framework/backend/cuda/conv2d_kernels.h"
#include "framework/backend/cuda/cuda_check.h"
#include "framework/backend/cuda/cuda_context.h"
#include "framework/backend/cuda/cuda_ops.h"
#include "framework/backend/cuda/kernel_launch.h"

namespace convlab::backend_cuda {
namespace {

// How a geometry is handed to cuDNN.
struct Lowering {
  int64_t pad_h = 0, pad_w = 0;        // symmetric padding cuDNN applies
  int64_t extra_top = 0, extra_left = 0;  // zeros written before the image in the scratch copy
  int64_t padded_h = 0, padded_w = 0;  // the input height and width cuDNN sees
  bool copies = false;                 // whether the input goes through a padded copy
};

Lowering lower(const ConvGeometry& g) {
  Lowering l;
  l.pad_h = std::min(g.pad_top, g.pad_bottom);
  l.pad_w = std::min(g.pad_left, g.pad_right);
  l.extra_top = g.pad_top - l.pad_h;
  l.extra_left = g.pad_left - l.pad_w;
  l.padded_h = g.in_h + (g.pad_top - l.pad_h) + (g.pad_bottom - l.pad_h);
  l.padded_w = g.in_w + (g.pad_left - l.pad_w) + (g.pad_right - l.pad_w);
  l.copies = l.padded_h != g.in_h || l.padded_w != g.in_w;
  return l;
}

int as_int(int64_t v, const ConvGeometry& g) {
  CONVLAB_CHECK(v >= 0 && v <= INT_MAX, "convolution {}: a size of {} is beyond cuDNN's int range", g.str(), v);
  return static_cast<int>(v);
}

void check_operands(const Tensor& x, const Tensor& w, const Tensor& y, const ConvGeometry& g, const char* op) {
  check_f32({&x, &w, &y}, op);
  CONVLAB_CHECK(x.device() == w.device() && x.device() == y.device(), "{}: operands on different devices", op);
  CONVLAB_CHECK(x.shape() == Shape({g.batch, g.in_channels, g.in_h, g.in_w}) &&
                    w.shape() == Shape({g.out_channels, g.in_channels, g.kernel_h, g.kernel_w}) &&
                    y.shape() == Shape({g.batch, g.out_channels, g.out_h, g.out_w}),
                "{}: x {}, w {}, y {} do not fit {}", op, x.describe(), w.describe(), y.describe(), g.str());
  // The legacy cuDNN API indexes tensors with int.
  const int64_t padded = g.batch * g.in_channels * lower(g).padded_h * lower(g).padded_w;
  CONVLAB_CHECK(std::max({padded, y.numel(), w.numel()}) < (int64_t{1} << 31),
                "{}: {} has tensors of 2^31 or more elements, beyond cuDNN's legacy API: use a smaller batch", op,
                g.str());
}

// The descriptors of a shape, made on first use and kept by the context.
ConvPlan& plan_for(CudaContext& ctx, const ConvGeometry& g, const Lowering& l) {
  const ConvKey key{g.batch,    g.in_channels, l.padded_h, l.padded_w, g.out_channels, g.kernel_h, g.kernel_w,
                    l.pad_h,    l.pad_w,       g.stride_h, g.stride_w, g.out_h,        g.out_w,    ctx.allow_tf32()};
  auto& plans = ctx.conv_plans();
  auto it = plans.find(key);
  if (it != plans.end()) return *it->second;

  auto plan = std::make_unique<ConvPlan>();
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->x));
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->y));
  CUDNN_CHECK(cudnnCreateFilterDescriptor(&plan->w));
  CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&plan->conv));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(plan->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, as_int(g.batch, g),
                                         as_int(g.in_channels, g), as_int(l.padded_h, g), as_int(l.padded_w, g)));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(plan->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, as_int(g.batch, g),
                                         as_int(g.out_channels, g), as_int(g.out_h, g), as_int(g.out_w, g)));
  CUDNN_CHECK(cudnnSetFilter4dDescriptor(plan->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, as_int(g.out_channels, g),
                                         as_int(g.in_channels, g), as_int(g.kernel_h, g), as_int(g.kernel_w, g)));
  CUDNN_CHECK(cudnnSetConvolution2dDescriptor(plan->conv, as_int(l.pad_h, g), as_int(l.pad_w, g),
                                              as_int(g.stride_h, g), as_int(g.stride_w, g), 1, 1,
                                              CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  // The lowering must give cuDNN exactly the output the geometry promises.
  int n = 0, k = 0, oh = 0, ow = 0;
  CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(plan->conv, plan->x, plan->w, &n, &k, &oh, &ow));
  CONVLAB_CHECK(n == g.batch && k == g.out_channels && oh == g.out_h && ow == g.out_w,
                "cuDNN computes a {}x{}x{}x{} output for {} (padded input {}x{}, symmetric pad {}x{})", n, k, oh, ow,
                g.str(), l.padded_h, l.padded_w, l.pad_h, l.pad_w);
  return *plans.emplace(key, std::move(plan)).first->second;
}

// The math type the descriptor carries while the heuristics run: the default lets cuDNN
// consider TF32 kernels on Ampere and later; FMA restricts it to fp32 kernels.
cudnnMathType_t search_math(bool allow_tf32) { return allow_tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH; }

// Keeps the heuristics' proposals that succeeded, are deterministic, respect the math mode
// and fit the workspace limit, then `fallback` (a deterministic algorithm every shape
// supports) in case none does. workspace_of(algo, &bytes) asks cuDNN with the candidate's
// math type already set on the descriptor.
template <class Perf, class Algo, class WorkspaceOf>
std::vector<ConvAlgorithm> usable(const std::vector<Perf>& perf, int returned, Algo fallback, CudaContext& ctx,
                                  ConvPlan& plan, WorkspaceOf&& workspace_of) {
  const bool tf32 = ctx.allow_tf32();
  std::vector<std::pair<Algo, cudnnMathType_t>> proposals;
  for (int i = 0; i < returned; ++i) {
    const Perf& p = perf[static_cast<size_t>(i)];
    if (p.status != CUDNN_STATUS_SUCCESS || p.determinism != CUDNN_DETERMINISTIC) continue;
    // Tensor-op math runs fp32 as TF32 (strict mode refuses it); with conversion it would
    // even round to fp16: never.
    if (p.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION || (!tf32 && p.mathType == CUDNN_TENSOR_OP_MATH)) continue;
    proposals.emplace_back(p.algo, tf32 ? p.mathType : CUDNN_FMA_MATH);
  }
  proposals.emplace_back(fallback, search_math(tf32));
  std::vector<ConvAlgorithm> out;
  for (const auto& [algo, math] : proposals) {
    bool seen = false;
    for (const ConvAlgorithm& b : out) seen = seen || (b.algo == static_cast<int>(algo) && b.math == math);
    if (seen) continue;
    ConvAlgorithm a;
    a.algo = static_cast<int>(algo);
    a.math = math;
    CUDNN_CHECK(cudnnSetConvolutionMathType(plan.conv, math));
    if (workspace_of(algo, &a.workspace) != CUDNN_STATUS_SUCCESS || a.workspace > ctx.workspace_limit()) continue;
    out.push_back(a);
  }
  return out;
}

void search_forward(CudaContext& ctx, ConvPlan& plan) {
  if (plan.forward.searched) return;
  CUDNN_CHECK(cudnnSetConvolutionMathType(plan.conv, search_math(ctx.allow_tf32())));
  int count = 0, returned = 0;
  CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(ctx.cudnn(), &count));
  count = std::max(count, 1);
  std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(static_cast<size_t>(count));
  CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(ctx.cudnn(), plan.x, plan.w, plan.conv, plan.y, count,
                                                     &returned, perf.data()));
  plan.forward.candidates =
      usable(perf, returned, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, ctx, plan,
             [&](cudnnConvolutionFwdAlgo_t algo, size_t* bytes) {
               return cudnnGetConvolutionForwardWorkspaceSize(ctx.cudnn(), plan.x, plan.w, plan.conv, plan.y, algo,
                                                              bytes);
             });
  plan.forward.searched = true;
}

void search_backward_data(CudaContext& ctx, ConvPlan& plan) {
  if (plan.backward_data.searched) return;
  CUDNN_CHECK(cudnnSetConvolutionMathType(plan.conv, search_math(ctx.allow_tf32())));
  int count = 0, returned = 0;
  CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(ctx.cudnn(), &count));
  count = std::max(count, 1);
  std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(static_cast<size_t>(count));
  CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(ctx.cudnn(), plan.w, plan.y, plan.conv, plan.x, count,
                                                          &returned, perf.data()));
  plan.backward_data.candidates =
      usable(perf, returned, CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, ctx, plan,
             [&](cudnnConvolutionBwdDataAlgo_t algo, size_t* bytes) {
               return cudnnGetConvolutionBackwardDataWorkspaceSize(ctx.cudnn(), plan.w, plan.y, plan.conv, plan.x,
                                                                   algo, bytes);
             });
  plan.backward_data.searched = true;
}

void search_backward_filter(CudaContext& ctx, ConvPlan& plan) {
  if (plan.backward_filter.searched) return;
  CUDNN_CHECK(cudnnSetConvolutionMathType(plan.conv, search_math(ctx.allow_tf32())));
  int count = 0, returned = 0;
  CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(ctx.cudnn(), &count));
  count = std::max(count, 1);
  std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(static_cast<size_t>(count));
  CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(ctx.cudnn(), plan.x, plan.y, plan.conv, plan.w, count,
                                                            &returned, perf.data()));
  plan.backward_filter.candidates =
      usable(perf, returned, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, ctx, plan,
             [&](cudnnConvolutionBwdFilterAlgo_t algo, size_t* bytes) {
               return cudnnGetConvolutionBackwardFilterWorkspaceSize(ctx.cudnn(), plan.x, plan.y, plan.conv, plan.w,
                                                                     algo, bytes);
             });
  plan.backward_filter.searched = true;
}

// Runs run(algo, workspace, bytes) with the chosen candidate, moving on to the next one if
// cuDNN reports it unsupported for this shape.
template <class Run>
void run_chosen(CudaContext& ctx, ConvPlan& plan, ConvAlgorithms& algos, const ConvGeometry& g, const char* op,
                Run&& run) {
  while (algos.chosen < algos.candidates.size()) {
    const ConvAlgorithm& a = algos.candidates[algos.chosen];
    CUDNN_CHECK(cudnnSetConvolutionMathType(plan.conv, a.math));
    void* workspace = ctx.workspace(a.workspace);
    const cudnnStatus_t status = run(a.algo, workspace, ctx.workspace_bytes());
    if (status == CUDNN_STATUS_SUCCESS) return;
    if (CUDNN_STATUS_CATEGORY(status) != CUDNN_STATUS_NOT_SUPPORTED)
      CONVLAB_FAIL("{}: cuDNN algorithm {} failed on {}: {}", op, a.algo, g.str(), cudnnGetErrorString(status));
    ++algos.chosen;
  }
  CONVLAB_FAIL("{}: cuDNN offers no deterministic algorithm ({}) for {} within the {} MiB workspace limit", op,
               ctx.allow_tf32() ? "TF32 allowed" : "strict fp32", g.str(), ctx.workspace_limit() >> 20);
}

const float kOne = 1.0f, kZero = 0.0f;

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y, const ConvGeometry& g) {
  const char* op = "conv2d_forward";
  check_operands(x, w, y, g, op);
  if (bias) {
    check_f32({bias}, op);
    CONVLAB_CHECK(bias->numel() == g.out_channels, "{}: bias {} for {} channels", op, bias->describe(), g.out_channels);
  }
  if (y.numel() == 0) return;
  CudaContext& ctx = cuda_context(x.device());
  const Lowering l = lower(g);
  ConvPlan& plan = plan_for(ctx, g, l);
  Tensor padded;  // (N, C, padded_h, padded_w), only when cuDNN cannot pad on its own
  const float* input = x.data<float>();
  if (l.copies) {
    padded = Tensor::empty({g.batch, g.in_channels, l.padded_h, l.padded_w}, DType::f32, x.device());
    pad_images(input, g.batch * g.in_channels, g.in_h, g.in_w, l.extra_top, l.extra_left, l.padded_h, l.padded_w,
               padded.data<float>(), ctx.stream());
    input = padded.data<float>();
  }
  search_forward(ctx, plan);
  run_chosen(ctx, plan, plan.forward, g, op, [&](int algo, void* workspace, size_t bytes) {
    return cudnnConvolutionForward(ctx.cudnn(), &kOne, plan.x, input, plan.w, w.data<float>(), plan.conv,
                                   static_cast<cudnnConvolutionFwdAlgo_t>(algo), workspace, bytes, &kZero, plan.y,
                                   y.data<float>());
  });
  if (bias)
    add_channel_bias(y.data<float>(), bias->data<float>(), g.batch, g.out_channels, g.out_h * g.out_w, ctx.stream());
}

void conv2d_backward_data(const Tensor& w, const Tensor& grad_y, Tensor& grad_x, const ConvGeometry& g) {
  const char* op = "conv2d_backward_data";
  check_operands(grad_x, w, grad_y, g, op);
  if (grad_x.numel() == 0) return;
  CudaContext& ctx = cuda_context(w.device());
  const Lowering l = lower(g);
  ConvPlan& plan = plan_for(ctx, g, l);
  Tensor padded;  // (N, C, padded_h, padded_w): the gradient of the padded input, cropped below
  float* output = grad_x.data<float>();
  if (l.copies) {
    padded = Tensor::empty({g.batch, g.in_channels, l.padded_h, l.padded_w}, DType::f32, w.device());
    output = padded.data<float>();
  }
  search_backward_data(ctx, plan);
  run_chosen(ctx, plan, plan.backward_data, g, op, [&](int algo, void* workspace, size_t bytes) {
    return cudnnConvolutionBackwardData(ctx.cudnn(), &kOne, plan.w, w.data<float>(), plan.y, grad_y.data<float>(),
                                        plan.conv, static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), workspace, bytes,
                                        &kZero, plan.x, output);
  });
  if (l.copies)
    crop_images(output, g.batch * g.in_channels, l.padded_h, l.padded_w, l.extra_top, l.extra_left, g.in_h, g.in_w,
                grad_x.data<float>(), ctx.stream());
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
  const Lowering l = lower(g);
  ConvPlan& plan = plan_for(ctx, g, l);
  Tensor padded;  // (N, C, padded_h, padded_w)
  const float* input = x.data<float>();
  if (l.copies) {
    padded = Tensor::empty({g.batch, g.in_channels, l.padded_h, l.padded_w}, DType::f32, x.device());
    pad_images(input, g.batch * g.in_channels, g.in_h, g.in_w, l.extra_top, l.extra_left, l.padded_h, l.padded_w,
               padded.data<float>(), ctx.stream());
    input = padded.data<float>();
  }
  search_backward_filter(ctx, plan);
  run_chosen(ctx, plan, plan.backward_filter, g, op, [&](int algo, void* workspace, size_t bytes) {
    return cudnnConvolutionBackwardFilter(ctx.cudnn(), &kOne, plan.x, input, plan.y, grad_y.data<float>(), plan.conv,
                                          static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo), workspace, bytes,
                                          &kZero, plan.w, grad_w.data<float>());
  });
}

}  // namespace convlab::backend_cuda
