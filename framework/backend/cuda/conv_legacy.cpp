#include "framework/backend/cuda/conv_legacy.h"

#include <algorithm>
#include <climits>
#include <utility>

#include "framework/backend/cuda/cuda_check.h"

namespace convlab::backend_cuda {

LegacyConv::~LegacyConv() {
  if (x) cudnnDestroyTensorDescriptor(x);
  if (y) cudnnDestroyTensorDescriptor(y);
  if (w) cudnnDestroyFilterDescriptor(w);
  if (conv) cudnnDestroyConvolutionDescriptor(conv);
}

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

namespace {

int as_int(int64_t v, const ConvGeometry& g) {
  CONVLAB_CHECK(v >= 0 && v <= INT_MAX, "convolution {}: a size of {} is beyond cuDNN's int range", g.str(), v);
  return static_cast<int>(v);
}

cudnnDataType_t data_type(const ConvStorage& s) { return s.dtype == DType::bf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT; }
cudnnTensorFormat_t tensor_format(const ConvStorage& s) { return s.channels_last ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW; }
// bf16 convolutions always run on tensor cores (fp32 accumulation); fp32 ones only when TF32 is allowed.
bool tensor_cores(const CudaContext& ctx, const ConvStorage& s) { return s.dtype == DType::bf16 || ctx.allow_tf32(); }

// The math type the descriptor carries while the heuristics run: the default lets cuDNN
// consider tensor-core kernels (TF32 for fp32 data on Ampere and later); FMA restricts fp32
// data to fp32 kernels.
cudnnMathType_t search_math(bool tensor_cores) { return tensor_cores ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH; }

// At most this many legacy algorithms are timed per direction (the heuristics' best ones).
constexpr size_t kMaxCandidates = 6;

// Keeps the heuristics' proposals that succeeded, are admitted by the settings (determinism,
// math mode) and fit the workspace limit, then `fallback` (a deterministic algorithm every
// shape supports) in case none does. workspace_of(algo, &bytes) asks cuDNN with the
// candidate's math type already set on the descriptor.
template <class Perf, class Algo, class WorkspaceOf>
std::vector<ConvAlgorithm> usable(const std::vector<Perf>& perf, int returned, Algo fallback, const CudaContext& ctx,
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
    const bool last_resort = &p == &proposals.back();
    if (out.size() == kMaxCandidates && !last_resort) continue;
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
  const size_t i = static_cast<size_t>(d);
  if (legacy.searched[i]) return;
  const bool tf32 = tensor_cores(ctx, plan.storage);
  CUDNN_CHECK(cudnnSetConvolutionMathType(legacy.conv, search_math(tf32)));
  int count = 0, returned = 0;
  std::vector<ConvAlgorithm>& algos = legacy.algorithms[i];
  switch (d) {
    case ConvDirection::forward: {
      CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(ctx.cudnn(), &count));
      std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(static_cast<size_t>(std::max(count, 1)));
      CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(ctx.cudnn(), legacy.x, legacy.w, legacy.conv, legacy.y,
                                                         static_cast<int>(perf.size()), &returned, perf.data()));
      algos = usable(perf, returned, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, ctx, tf32, legacy,
                     [&](cudnnConvolutionFwdAlgo_t algo, size_t* bytes) {
                       return cudnnGetConvolutionForwardWorkspaceSize(ctx.cudnn(), legacy.x, legacy.w, legacy.conv,
                                                                      legacy.y, algo, bytes);
                     });
      break;
    }
    case ConvDirection::backward_data: {
      CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(ctx.cudnn(), &count));
      std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(static_cast<size_t>(std::max(count, 1)));
      CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(ctx.cudnn(), legacy.w, legacy.y, legacy.conv, legacy.x,
                                                              static_cast<int>(perf.size()), &returned, perf.data()));
      algos = usable(perf, returned, CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, ctx, tf32, legacy,
                     [&](cudnnConvolutionBwdDataAlgo_t algo, size_t* bytes) {
                       return cudnnGetConvolutionBackwardDataWorkspaceSize(ctx.cudnn(), legacy.w, legacy.y,
                                                                           legacy.conv, legacy.x, algo, bytes);
                     });
      break;
    }
    case ConvDirection::backward_filter: {
      CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(ctx.cudnn(), &count));
      std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(static_cast<size_t>(std::max(count, 1)));
      CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(ctx.cudnn(), legacy.x, legacy.y, legacy.conv,
                                                                legacy.w, static_cast<int>(perf.size()), &returned,
                                                                perf.data()));
      algos = usable(perf, returned, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, ctx, tf32, legacy,
                     [&](cudnnConvolutionBwdFilterAlgo_t algo, size_t* bytes) {
                       return cudnnGetConvolutionBackwardFilterWorkspaceSize(ctx.cudnn(), legacy.x, legacy.y,
                                                                             legacy.conv, legacy.w, algo, bytes);
                     });
      break;
    }
  }
  legacy.searched[i] = true;
}

}  // namespace

LegacyConv& legacy_for(CudaContext& ctx, ConvPlan& plan) {
  if (plan.legacy) return *plan.legacy;
  const ConvGeometry& g = plan.geometry;
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

std::vector<ConvCandidate> legacy_candidates(CudaContext& ctx, ConvPlan& plan, ConvDirection d) {
  LegacyConv& legacy = legacy_for(ctx, plan);
  search(ctx, plan, legacy, d);
  const ConvRoute route = lower(plan.geometry).copies ? ConvRoute::padded_copy : ConvRoute::legacy;
  std::vector<ConvCandidate> out;
  const std::vector<ConvAlgorithm>& algos = legacy.algorithms[static_cast<size_t>(d)];
  for (size_t i = 0; i < algos.size(); ++i) {
    const ConvAlgorithm& a = algos[i];
    ConvCandidate c;
    c.route = route;
    c.index = i;
    c.workspace = a.workspace;
    c.id = a.algo;
    c.math = a.math;
    c.deterministic = a.deterministic;
    c.name = fmt::format("algo {}{}{}", a.algo, a.math == CUDNN_FMA_MATH ? " fp32" : "",
                         a.deterministic ? "" : ", non-deterministic");
    out.push_back(std::move(c));
  }
  return out;
}

cudnnStatus_t run_legacy_candidate(CudaContext& ctx, LegacyConv& legacy, ConvDirection d, size_t index,
                                   const void* a, const void* b, void* out, void* workspace) {
  const std::vector<ConvAlgorithm>& algos = legacy.algorithms[static_cast<size_t>(d)];
  CONVLAB_CHECK(index < algos.size(), "legacy convolution: no candidate {}", index);
  const ConvAlgorithm& algo = algos[index];
  CUDNN_CHECK(cudnnSetConvolutionMathType(legacy.conv, algo.math));
  const float one = 1.0f, zero = 0.0f;
  switch (d) {
    case ConvDirection::forward:
      return cudnnConvolutionForward(ctx.cudnn(), &one, legacy.x, a, legacy.w, b, legacy.conv,
                                     static_cast<cudnnConvolutionFwdAlgo_t>(algo.algo), workspace, algo.workspace,
                                     &zero, legacy.y, out);
    case ConvDirection::backward_data:
      return cudnnConvolutionBackwardData(ctx.cudnn(), &one, legacy.w, a, legacy.y, b, legacy.conv,
                                          static_cast<cudnnConvolutionBwdDataAlgo_t>(algo.algo), workspace,
                                          algo.workspace, &zero, legacy.x, out);
    case ConvDirection::backward_filter:
      return cudnnConvolutionBackwardFilter(ctx.cudnn(), &one, legacy.x, a, legacy.y, b, legacy.conv,
                                            static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo.algo), workspace,
                                            algo.workspace, &zero, legacy.w, out);
  }
  return CUDNN_STATUS_BAD_PARAM;
}

}  // namespace convlab::backend_cuda
