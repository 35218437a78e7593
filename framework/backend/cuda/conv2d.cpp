// CUDA convolution through cuDNN (NCHW, cross-correlation, fp32 data and accumulation).
//
// Routes (conv_plan.h): geometries with equal padding on both sides of each axis (stride-1
// SAME, VALID, 1x1) run through the legacy descriptors. Geometries with more padding on one
// side (XLA's SAME at stride 2 on even sizes: 0 before, 1 after) run through cuDNN's graph
// API, which takes pre- and post-paddings (conv_graph.h); only if cuDNN offers no engine
// for one, that direction falls back to the legacy route with a padded copy of the input
// (and the input gradient computed for the padded input, then cropped).
//
// Algorithms: per shape and direction, the candidates the heuristics propose that the
// settings admit -- deterministic ones only unless the context allows others, TF32 tensor
// cores only when allowed, never a conversion to fp16 -- within the workspace limit, plus a
// plain deterministic algorithm as a last resort; each is timed once (conv_timing.h,
// before any CUDA graph is recorded) and the fastest kept. If cuDNN refuses the chosen one
// at run time, the next is taken.
#include <algorithm>
#include <climits>
#include <utility>

#include "framework/backend/cuda/conv2d_kernels.h"
#include "framework/backend/cuda/conv_graph.h"
#include "framework/backend/cuda/conv_report.h"
#include "framework/backend/cuda/conv_timing.h"
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

ConvPlan::ConvPlan() = default;
ConvPlan::~ConvPlan() = default;

LegacyConv::~LegacyConv() {
  if (x) cudnnDestroyTensorDescriptor(x);
  if (y) cudnnDestroyTensorDescriptor(y);
  if (w) cudnnDestroyFilterDescriptor(w);
  if (conv) cudnnDestroyConvolutionDescriptor(conv);
}

namespace {

// How a geometry is handed to the legacy descriptors.
struct Lowering {
  int64_t pad_h = 0, pad_w = 0;           // symmetric padding cuDNN applies
  int64_t extra_top = 0, extra_left = 0;  // zeros written before the image in the scratch copy
  int64_t padded_h = 0, padded_w = 0;     // the input height and width cuDNN sees
  bool copies = false;                    // whether the input goes through a padded copy
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
  const int64_t padded = g.batch * g.in_channels * lower(g).padded_h * lower(g).padded_w;
  CONVLAB_CHECK(std::max({padded, y.numel(), w.numel()}) < (int64_t{1} << 31),
                "{}: {} has tensors of 2^31 or more elements, beyond cuDNN's legacy API: use a smaller batch", op,
                g.str());
}

bool asymmetric(const ConvGeometry& g) { return g.pad_top != g.pad_bottom || g.pad_left != g.pad_right; }

// The plan of a shape and storage in the context's current settings, made on first use.
ConvPlan& plan_for(CudaContext& ctx, const ConvGeometry& g, const Tensor& x) {
  const ConvStorage storage{x.dtype(), x.channels_last()};
  const ConvKey key{g.batch,      g.in_channels, g.in_h,           g.in_w,           g.out_channels,
                    g.kernel_h,   g.kernel_w,    g.pad_top,        g.pad_left,       g.pad_bottom,
                    g.pad_right,  g.stride_h,    g.stride_w,       int64_t(storage.dtype), storage.channels_last,
                    ctx.allow_tf32(), ctx.deterministic()};
  auto& plans = ctx.conv_plans();
  auto it = plans.find(key);
  if (it != plans.end()) return *it->second;
  auto plan = std::make_unique<ConvPlan>();
  plan->geometry = g;
  plan->storage = storage;
  return *plans.emplace(key, std::move(plan)).first->second;
}

cudnnDataType_t data_type(const ConvStorage& s) { return s.dtype == DType::bf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT; }
cudnnTensorFormat_t tensor_format(const ConvStorage& s) { return s.channels_last ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW; }
// bf16 convolutions always run on tensor cores (fp32 accumulation); fp32 ones only when TF32 is allowed.
bool tensor_cores(CudaContext& ctx, const ConvStorage& s) { return s.dtype == DType::bf16 || ctx.allow_tf32(); }

// The legacy descriptors of a plan, made on first use.
LegacyConv& legacy_for(ConvPlan& plan, const ConvGeometry& g) {
  if (plan.legacy) return *plan.legacy;
  const Lowering l = lower(g);
  const cudnnDataType_t type = data_type(plan.storage);
  const cudnnTensorFormat_t format = tensor_format(plan.storage);
  auto legacy = std::make_unique<LegacyConv>();
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&legacy->x));
  CUDNN_CHECK(cudnnCreateTensorDescriptor(&legacy->y));
  CUDNN_CHECK(cudnnCreateFilterDescriptor(&legacy->w));
  CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&legacy->conv));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(legacy->x, format, type, as_int(g.batch, g), as_int(g.in_channels, g),
                                         as_int(l.padded_h, g), as_int(l.padded_w, g)));
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(legacy->y, format, type, as_int(g.batch, g), as_int(g.out_channels, g),
                                         as_int(g.out_h, g), as_int(g.out_w, g)));
  CUDNN_CHECK(cudnnSetFilter4dDescriptor(legacy->w, type, format, as_int(g.out_channels, g), as_int(g.in_channels, g),
                                         as_int(g.kernel_h, g), as_int(g.kernel_w, g)));
  CUDNN_CHECK(cudnnSetConvolution2dDescriptor(legacy->conv, as_int(l.pad_h, g), as_int(l.pad_w, g),
                                              as_int(g.stride_h, g), as_int(g.stride_w, g), 1, 1,
                                              CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  // The lowering must give cuDNN exactly the output the geometry promises.
  int n = 0, k = 0, oh = 0, ow = 0;
  CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(legacy->conv, legacy->x, legacy->w, &n, &k, &oh, &ow));
  CONVLAB_CHECK(n == g.batch && k == g.out_channels && oh == g.out_h && ow == g.out_w,
                "cuDNN computes a {}x{}x{}x{} output for {} (padded input {}x{}, symmetric pad {}x{})", n, k, oh, ow,
                g.str(), l.padded_h, l.padded_w, l.pad_h, l.pad_w);
  plan.legacy = std::move(legacy);
  return *plan.legacy;
}

// Whether direction d of this plan runs on the graph API: asymmetric padding, the route
// enabled, and cuDNN offering an engine (found out on first use).
GraphConv* graph_route(CudaContext& ctx, ConvPlan& plan, const ConvGeometry& g, ConvDirection d) {
  const size_t i = static_cast<size_t>(d);
  if (!asymmetric(g) || !ctx.graph_api_padding() || plan.graph_unavailable[i]) return nullptr;
  if (!plan.graph[i]) {
    plan.graph[i] = build_graph_conv(ctx, g, plan.storage, d);
    plan.graph_unavailable[i] = plan.graph[i] == nullptr;
  }
  return plan.graph[i].get();
}

// The math type the descriptor carries while the heuristics run: the default lets cuDNN
// consider tensor-core kernels (TF32 for fp32 data on Ampere and later); FMA restricts fp32
// data to fp32 kernels.
cudnnMathType_t search_math(bool tensor_cores) { return tensor_cores ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH; }

// Keeps the heuristics' proposals that succeeded, are admitted by the settings (determinism,
// math mode) and fit the workspace limit, then `fallback` (a deterministic algorithm every
// shape supports) in case none does. workspace_of(algo, &bytes) asks cuDNN with the
// candidate's math type already set on the descriptor.
template <class Perf, class Algo, class WorkspaceOf>
std::vector<ConvAlgorithm> usable(const std::vector<Perf>& perf, int returned, Algo fallback, CudaContext& ctx,
                                  bool tf32, LegacyConv& legacy, WorkspaceOf&& workspace_of) {
  struct Proposal {
    Algo algo;
    cudnnMathType_t math;
    bool deterministic;
  };
  std::vector<Proposal> proposals;
  for (int i = 0; i < returned; ++i) {
    const Perf& p = perf[static_cast<size_t>(i)];
    const bool deterministic = p.determinism == CUDNN_DETERMINISTIC;
    if (p.status != CUDNN_STATUS_SUCCESS || (ctx.deterministic() && !deterministic)) continue;
    // Tensor-op math runs fp32 as TF32 (strict mode refuses it); with conversion it would
    // even round to fp16: never.
    if (p.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION || (!tf32 && p.mathType == CUDNN_TENSOR_OP_MATH)) continue;
    proposals.push_back({p.algo, tf32 ? p.mathType : CUDNN_FMA_MATH, deterministic});
  }
  proposals.push_back({fallback, search_math(tf32), true});
  std::vector<ConvAlgorithm> out;
  for (const Proposal& p : proposals) {
    bool seen = false;
    for (const ConvAlgorithm& b : out) seen = seen || (b.algo == static_cast<int>(p.algo) && b.math == p.math);
    if (seen) continue;
    ConvAlgorithm a;
    a.algo = static_cast<int>(p.algo);
    a.math = p.math;
    a.deterministic = p.deterministic;
    CUDNN_CHECK(cudnnSetConvolutionMathType(legacy.conv, p.math));
    if (workspace_of(p.algo, &a.workspace) != CUDNN_STATUS_SUCCESS || a.workspace > ctx.workspace_limit()) continue;
    out.push_back(a);
  }
  return out;
}

void search(CudaContext& ctx, const ConvPlan& plan, LegacyConv& legacy, ConvDirection d) {
  ConvAlgorithms& algos = legacy.algorithms[static_cast<size_t>(d)];
  if (algos.searched) return;
  const bool tf32 = tensor_cores(ctx, plan.storage);
  CUDNN_CHECK(cudnnSetConvolutionMathType(legacy.conv, search_math(tf32)));
  int count = 0, returned = 0;
  switch (d) {
    case ConvDirection::forward: {
      CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(ctx.cudnn(), &count));
      std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(static_cast<size_t>(std::max(count, 1)));
      CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(ctx.cudnn(), legacy.x, legacy.w, legacy.conv, legacy.y,
                                                         static_cast<int>(perf.size()), &returned, perf.data()));
      algos.candidates = usable(perf, returned, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, ctx, tf32, legacy,
                                [&](cudnnConvolutionFwdAlgo_t algo, size_t* bytes) {
                                  return cudnnGetConvolutionForwardWorkspaceSize(ctx.cudnn(), legacy.x, legacy.w,
                                                                                 legacy.conv, legacy.y, algo, bytes);
                                });
      break;
    }
    case ConvDirection::backward_data: {
      CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(ctx.cudnn(), &count));
      std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(static_cast<size_t>(std::max(count, 1)));
      CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(ctx.cudnn(), legacy.w, legacy.y, legacy.conv, legacy.x,
                                                              static_cast<int>(perf.size()), &returned, perf.data()));
      algos.candidates = usable(perf, returned, CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, ctx, tf32, legacy,
                                [&](cudnnConvolutionBwdDataAlgo_t algo, size_t* bytes) {
                                  return cudnnGetConvolutionBackwardDataWorkspaceSize(
                                      ctx.cudnn(), legacy.w, legacy.y, legacy.conv, legacy.x, algo, bytes);
                                });
      break;
    }
    case ConvDirection::backward_filter: {
      CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(ctx.cudnn(), &count));
      std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(static_cast<size_t>(std::max(count, 1)));
      CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(ctx.cudnn(), legacy.x, legacy.y, legacy.conv,
                                                                legacy.w, static_cast<int>(perf.size()), &returned,
                                                                perf.data()));
      algos.candidates = usable(perf, returned, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, ctx, tf32, legacy,
                                [&](cudnnConvolutionBwdFilterAlgo_t algo, size_t* bytes) {
                                  return cudnnGetConvolutionBackwardFilterWorkspaceSize(
                                      ctx.cudnn(), legacy.x, legacy.y, legacy.conv, legacy.w, algo, bytes);
                                });
      break;
    }
  }
  algos.searched = true;
}

// Runs run(algo, workspace, bytes) with the chosen candidate: on first use (outside graph
// recordings) all candidates are timed and ordered fastest first; a candidate cuDNN
// reports unsupported at run time is passed over for good.
template <class Run>
void run_chosen(CudaContext& ctx, const ConvPlan& plan, LegacyConv& legacy, ConvDirection d, const ConvGeometry& g,
                const char* op, Run&& run) {
  search(ctx, plan, legacy, d);
  ConvAlgorithms& algos = legacy.algorithms[static_cast<size_t>(d)];
  auto attempt = [&](const ConvAlgorithm& a) {
    CUDNN_CHECK(cudnnSetConvolutionMathType(legacy.conv, a.math));
    void* workspace = ctx.workspace(a.workspace);
    return run(a.algo, workspace, ctx.workspace_bytes());
  };
  if (!algos.timed && !ctx.capturing()) {
    const std::vector<float> ms = time_candidates(ctx, algos.candidates.size(), [&](size_t i) {
      return attempt(algos.candidates[i]) == CUDNN_STATUS_SUCCESS;
    });
    std::vector<ConvAlgorithm> kept;
    algos.milliseconds.clear();
    for (const size_t i : fastest_first(ms)) {
      kept.push_back(algos.candidates[i]);
      algos.milliseconds.push_back(ms[i]);
    }
    algos.candidates = std::move(kept);
    algos.chosen = 0;
    algos.timed = true;
  }
  while (algos.chosen < algos.candidates.size()) {
    const ConvAlgorithm& a = algos.candidates[algos.chosen];
    const cudnnStatus_t status = attempt(a);
    if (status == CUDNN_STATUS_SUCCESS) return;
    if (CUDNN_STATUS_CATEGORY(status) != CUDNN_STATUS_NOT_SUPPORTED)
      CONVLAB_FAIL("{}: cuDNN algorithm {} failed on {}: {}", op, a.algo, g.str(), describe_cudnn_error(status));
    ++algos.chosen;
  }
  CONVLAB_FAIL("{}: cuDNN offers no {}algorithm ({}, {}{}) for {} within the {} MiB workspace limit", op,
               ctx.deterministic() ? "deterministic " : "", dtype_name(plan.storage.dtype),
               plan.storage.channels_last ? "channels_last, " : "",
               tensor_cores(ctx, plan.storage) ? "tensor cores allowed" : "strict fp32", g.str(),
               ctx.workspace_limit() >> 20);
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
  ConvPlan& plan = plan_for(ctx, g, x);
  GraphConv* graph = graph_route(ctx, plan, g, ConvDirection::forward);
  if (graph && run_graph_conv(ctx, *graph, g, x.raw(), w.raw(), y.raw())) {
    // done on the graph API
  } else {
    if (graph) plan.graph_unavailable[static_cast<size_t>(ConvDirection::forward)] = true;
    LegacyConv& legacy = legacy_for(plan, g);
    const Lowering l = lower(g);
    Tensor padded;  // (N, C, padded_h, padded_w), only when cuDNN cannot pad on its own
    const void* input = x.raw();
    if (l.copies) {
      padded = Tensor::empty({g.batch, g.in_channels, l.padded_h, l.padded_w}, x.dtype(), x.device(), x.format());
      pad_images(x, l.extra_top, l.extra_left, padded, ctx.stream());
      input = padded.raw();
    }
    run_chosen(ctx, plan, legacy, ConvDirection::forward, g, op, [&](int algo, void* workspace, size_t bytes) {
      return cudnnConvolutionForward(ctx.cudnn(), &kOne, legacy.x, input, legacy.w, w.raw(), legacy.conv,
                                     static_cast<cudnnConvolutionFwdAlgo_t>(algo), workspace, bytes, &kZero, legacy.y,
                                     y.raw());
    });
  }
  if (bias) add_channel_bias(y, *bias, ctx.stream());
}

void conv2d_backward_data(const Tensor& w, const Tensor& grad_y, Tensor& grad_x, const ConvGeometry& g) {
  const char* op = "conv2d_backward_data";
  check_operands(grad_x, w, grad_y, g, op);
  if (grad_x.numel() == 0) return;
  CudaContext& ctx = cuda_context(w.device());
  ConvPlan& plan = plan_for(ctx, g, grad_x);
  GraphConv* graph = graph_route(ctx, plan, g, ConvDirection::backward_data);
  if (graph && run_graph_conv(ctx, *graph, g, w.raw(), grad_y.raw(), grad_x.raw())) return;
  if (graph) plan.graph_unavailable[static_cast<size_t>(ConvDirection::backward_data)] = true;
  LegacyConv& legacy = legacy_for(plan, g);
  const Lowering l = lower(g);
  Tensor padded;  // (N, C, padded_h, padded_w): the gradient of the padded input, cropped below
  void* output = grad_x.raw();
  if (l.copies) {
    padded = Tensor::empty({g.batch, g.in_channels, l.padded_h, l.padded_w}, grad_x.dtype(), w.device(),
                           grad_x.format());
    output = padded.raw();
  }
  run_chosen(ctx, plan, legacy, ConvDirection::backward_data, g, op, [&](int algo, void* workspace, size_t bytes) {
    return cudnnConvolutionBackwardData(ctx.cudnn(), &kOne, legacy.w, w.raw(), legacy.y, grad_y.raw(), legacy.conv,
                                        static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), workspace, bytes, &kZero,
                                        legacy.x, output);
  });
  if (l.copies) crop_images(padded, l.extra_top, l.extra_left, grad_x, ctx.stream());
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
  ConvPlan& plan = plan_for(ctx, g, x);
  GraphConv* graph = graph_route(ctx, plan, g, ConvDirection::backward_filter);
  if (graph && run_graph_conv(ctx, *graph, g, x.raw(), grad_y.raw(), grad_w.raw())) return;
  if (graph) plan.graph_unavailable[static_cast<size_t>(ConvDirection::backward_filter)] = true;
  LegacyConv& legacy = legacy_for(plan, g);
  const Lowering l = lower(g);
  Tensor padded;  // (N, C, padded_h, padded_w)
  const void* input = x.raw();
  if (l.copies) {
    padded = Tensor::empty({g.batch, g.in_channels, l.padded_h, l.padded_w}, x.dtype(), x.device(), x.format());
    pad_images(x, l.extra_top, l.extra_left, padded, ctx.stream());
    input = padded.raw();
  }
  run_chosen(ctx, plan, legacy, ConvDirection::backward_filter, g, op, [&](int algo, void* workspace, size_t bytes) {
    return cudnnConvolutionBackwardFilter(ctx.cudnn(), &kOne, legacy.x, input, legacy.y, grad_y.raw(), legacy.conv,
                                          static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo), workspace, bytes, &kZero,
                                          legacy.w, grad_w.raw());
  });
}

std::vector<ConvChoice> conv_choices(CudaContext& ctx) {
  std::vector<ConvChoice> out;
  for (const auto& [key, plan] : ctx.conv_plans()) {
    for (const ConvDirection d : {ConvDirection::forward, ConvDirection::backward_data, ConvDirection::backward_filter}) {
      const size_t i = static_cast<size_t>(d);
      ConvChoice c;
      c.geometry = plan->geometry.str();
      c.direction = d;
      c.storage = plan->storage;
      c.tf32 = key[15] != 0;
      c.deterministic_only = key[16] != 0;
      if (plan->graph[i] && !plan->graph_unavailable[i]) {
        c.route = "graph API (pre/post padding)";
        c.algorithm = describe_choice(*plan->graph[i]);
      } else if (plan->legacy && plan->legacy->algorithms[i].searched) {
        const ConvAlgorithms& a = plan->legacy->algorithms[i];
        c.route = lower(plan->geometry).copies ? "legacy, padded copy" : "legacy";
        if (a.chosen < a.candidates.size()) {
          const ConvAlgorithm& chosen = a.candidates[a.chosen];
          c.algorithm = fmt::format("algo {}{}{}", chosen.algo, chosen.math == CUDNN_FMA_MATH ? " fp32" : "",
                                    chosen.deterministic ? "" : ", non-deterministic");
          if (a.timed && a.chosen < a.milliseconds.size())
            c.algorithm += fmt::format(" ({:.3f} ms)", a.milliseconds[a.chosen]);
        }
      } else {
        continue;  // this direction never ran
      }
      out.push_back(std::move(c));
    }
  }
  return out;
}

}  // namespace convlab::backend_cuda

namespace convlab {

std::vector<std::string> describe_conv_choices(Device device) {
  if (!device.is_cuda()) return {};
  std::vector<std::string> lines;
  for (const backend_cuda::ConvChoice& c : backend_cuda::conv_choices(cuda_context(device)))
    lines.push_back(fmt::format("{:<16} {}  [{}{}{}]  {}: {}", backend_cuda::direction_name(c.direction), c.geometry,
                                c.storage.dtype == DType::bf16 ? "bf16" : c.tf32 ? "TF32" : "fp32",
                                c.storage.channels_last ? ", NHWC" : "", c.deterministic_only ? ", deterministic" : "",
                                c.route, c.algorithm));
  return lines;
}

}  // namespace convlab
