#include "framework/backend/cuda/conv_choice.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "framework/backend/cuda/conv2d_kernels.h"
#include "framework/backend/cuda/conv_graph.h"
#include "framework/backend/cuda/conv_legacy.h"
#include "framework/backend/cuda/conv_timing.h"
#include "framework/backend/cuda/cuda_check.h"

namespace convlab::backend_cuda {
namespace {

bool asymmetric(const ConvGeometry& g) { return g.pad_top != g.pad_bottom || g.pad_left != g.pad_right; }

// Points the context's cuDNN handle at another stream for the object's lifetime.
class CudnnStreamScope {
 public:
  CudnnStreamScope(CudaContext& ctx, cudaStream_t stream) : ctx_(ctx), switched_(stream != ctx.stream()) {
    if (switched_) CUDNN_CHECK(cudnnSetStream(ctx_.cudnn(), stream));
  }
  ~CudnnStreamScope() {
    if (switched_) cudnnSetStream(ctx_.cudnn(), ctx_.stream());
  }
  CudnnStreamScope(const CudnnStreamScope&) = delete;
  CudnnStreamScope& operator=(const CudnnStreamScope&) = delete;

 private:
  CudaContext& ctx_;
  bool switched_;
};

// Queues candidate c on `stream` (the handle's stream), padding or cropping around a legacy
// algorithm on the padded-copy route. While timing, a workspace the GPU has no memory for
// refuses the candidate instead of ending the run.
cudnnStatus_t run_candidate(CudaContext& ctx, ConvPlan& plan, ConvDirection d, const ConvCandidate& c,
                            const Tensor& a, const Tensor& b, Tensor& out, cudaStream_t stream, bool timing) {
  void* workspace = timing ? ctx.try_workspace(c.workspace) : ctx.workspace(c.workspace);
  if (!workspace && c.workspace > 0) return CUDNN_STATUS_ALLOC_FAILED;
  const size_t i = static_cast<size_t>(d);
  if (c.route == ConvRoute::graph_api)
    return run_graph_candidate(ctx, *plan.graph[i], c.index, a.raw(), b.raw(), out.raw(), workspace);
  LegacyConv& legacy = *plan.legacy;
  if (c.route == ConvRoute::legacy)
    return run_legacy_candidate(ctx, legacy, d, c.index, a.raw(), b.raw(), out.raw(), workspace);
  // The padded copy: cuDNN sees the input with the extra rows and columns as zeros.
  const ConvGeometry& g = plan.geometry;
  const Lowering l = lower(g);
  const Tensor& image = d == ConvDirection::backward_data ? out : a;  // (N, C, H, W)
  Tensor padded = Tensor::empty({g.batch, g.in_channels, l.padded_h, l.padded_w}, image.dtype(), image.device(),
                                image.format());  // (N, C, padded_h, padded_w)
  if (d == ConvDirection::backward_data) {
    const cudnnStatus_t status = run_legacy_candidate(ctx, legacy, d, c.index, a.raw(), b.raw(), padded.raw(),
                                                      workspace);
    if (status == CUDNN_STATUS_SUCCESS) crop_images(padded, l.extra_top, l.extra_left, out, stream);
    return status;
  }
  pad_images(a, l.extra_top, l.extra_left, padded, stream);
  return run_legacy_candidate(ctx, legacy, d, c.index, padded.raw(), b.raw(), out.raw(), workspace);
}

// Gathers the candidates of direction d, and takes a pinned one if the context has it.
void prepare(CudaContext& ctx, ConvPlan& plan, ConvDirection d) {
  const size_t i = static_cast<size_t>(d);
  ConvDirectionState& s = plan.directions[i];
  s.candidates.clear();
  using Route = CudaContext::AsymmetricRoute;
  const Route route = ctx.asymmetric_route();
  if (asymmetric(plan.geometry) && route != Route::padded_copy) {
    plan.graph[i] = build_graph_conv(ctx, plan.geometry, plan.storage, d, s.graph_unavailable);
    if (plan.graph[i]) s.candidates = graph_candidates(*plan.graph[i]);
  }
  // The legacy route too: for asymmetric padding the padded copy with the legacy tensor-core
  // kernels may beat every graph-API engine, so timing decides (unless the context asks
  // for the graph API alone and it is available).
  s.legacy_included = s.candidates.empty() || route != Route::graph_api;
  if (s.legacy_included)
    for (ConvCandidate& c : legacy_candidates(ctx, plan, d)) s.candidates.push_back(std::move(c));
  s.milliseconds.assign(s.candidates.size(), std::numeric_limits<float>::infinity());
  s.chosen = 0;
  s.prepared = true;
  const auto pin = ctx.pinned_convs().find({plan.key, static_cast<int>(d)});
  if (pin == ctx.pinned_convs().end()) return;
  const PinnedConv& p = pin->second;
  for (size_t k = 0; k < s.candidates.size(); ++k) {
    const ConvCandidate& c = s.candidates[k];
    if (c.route != p.route || c.id != p.id || (c.route != ConvRoute::graph_api && c.math != p.math)) continue;
    std::rotate(s.candidates.begin(), s.candidates.begin() + static_cast<std::ptrdiff_t>(k),
                s.candidates.begin() + static_cast<std::ptrdiff_t>(k) + 1);
    s.pinned = s.timed = true;
    return;
  }
}

// Times every candidate and keeps those that ran, fastest first.
void choose(CudaContext& ctx, ConvPlan& plan, ConvDirection d, const Tensor& a, const Tensor& b, Tensor& out) {
  ConvDirectionState& s = plan.directions[static_cast<size_t>(d)];
  const bool recording = ctx.capturing();
  const cudaStream_t stream = recording ? ctx.timing_stream() : ctx.stream();
  // While a graph is recorded, candidates write to scratch memory: the output belongs to
  // the recording, and nothing outside it may touch it.
  Tensor scratch;
  Tensor* target = &out;
  if (recording) {
    scratch = Tensor::empty(out.shape(), out.dtype(), out.device(), out.format());
    target = &scratch;
  }
  std::vector<float> ms;
  {
    const CudnnStreamScope scope(ctx, stream);
    ms = time_candidates(stream, s.candidates.size(), [&](size_t k) {
      return run_candidate(ctx, plan, d, s.candidates[k], a, b, *target, stream, true) == CUDNN_STATUS_SUCCESS;
    });
  }
  std::vector<ConvCandidate> kept;
  s.milliseconds.clear();
  bool graph_offered = false, graph_ran = false;
  for (size_t k = 0; k < s.candidates.size(); ++k) graph_offered |= s.candidates[k].route == ConvRoute::graph_api;
  for (const size_t k : fastest_first(ms)) {
    graph_ran |= s.candidates[k].route == ConvRoute::graph_api;
    kept.push_back(std::move(s.candidates[k]));
    s.milliseconds.push_back(ms[k]);
  }
  if (graph_offered && !graph_ran) s.graph_unavailable = "cuDNN refused every graph-API engine at run time";
  s.candidates = std::move(kept);
  s.chosen = 0;
  s.timed = true;
  // Memory that only a slower candidate needed goes back now, before any recording holds it.
  ctx.release_workspace_beyond(chosen_workspace(ctx));
}

// When every candidate is gone and the legacy route was not among them (the context asked
// for the graph API alone, and cuDNN refused each engine at run time), the legacy route's
// candidates join, to be timed. False when there is nothing left to add.
bool add_legacy_fallback(CudaContext& ctx, ConvPlan& plan, ConvDirection d) {
  ConvDirectionState& s = plan.directions[static_cast<size_t>(d)];
  if (s.legacy_included) return false;
  if (s.graph_unavailable.empty()) s.graph_unavailable = "cuDNN refused every graph-API engine at run time";
  s.candidates = legacy_candidates(ctx, plan, d);
  s.legacy_included = true;
  s.milliseconds.assign(s.candidates.size(), std::numeric_limits<float>::infinity());
  s.chosen = 0;
  s.timed = s.pinned = false;
  return true;
}

}  // namespace

size_t chosen_workspace(CudaContext& ctx) {
  size_t bytes = 0;
  for (const auto& [key, plan] : ctx.conv_plans())
    for (const ConvDirectionState& s : plan->directions)
      if (s.timed && s.chosen < s.candidates.size()) bytes = std::max(bytes, s.candidates[s.chosen].workspace);
  return bytes;
}

void run_conv_direction(CudaContext& ctx, ConvPlan& plan, ConvDirection d, const Tensor& a, const Tensor& b,
                        Tensor& out, const char* op) {
  ConvDirectionState& s = plan.directions[static_cast<size_t>(d)];
  if (!s.prepared) prepare(ctx, plan, d);
  if (!s.timed) choose(ctx, plan, d, a, b, out);
  while (true) {
    if (s.chosen == s.candidates.size()) {
      if (!add_legacy_fallback(ctx, plan, d)) break;
      choose(ctx, plan, d, a, b, out);
      continue;
    }
    const ConvCandidate& c = s.candidates[s.chosen];
    const cudnnStatus_t status = run_candidate(ctx, plan, d, c, a, b, out, ctx.stream(), false);
    if (status == CUDNN_STATUS_SUCCESS) {
      s.last_route = c.route;
      return;
    }
    // Refused for this shape: the next candidate, for good. Anything else is an error.
    const int category = CUDNN_STATUS_CATEGORY(status);
    const bool refused = category == CUDNN_STATUS_NOT_SUPPORTED ||
                         (c.route == ConvRoute::graph_api && category == CUDNN_STATUS_BAD_PARAM);
    if (!refused)
      CONVLAB_FAIL("{}: cuDNN {} ({}) failed on {}: {}", op, c.name, route_name(c.route), plan.geometry.str(),
                   describe_cudnn_error(status));
    ++s.chosen;
  }
  CONVLAB_FAIL("{}: cuDNN offers no {}algorithm ({}{}, {}) for {} within the {} MiB workspace limit{}{}", op,
               ctx.deterministic() ? "deterministic " : "", dtype_name(plan.storage.dtype),
               plan.storage.channels_last ? ", channels_last" : "",
               plan.storage.dtype == DType::bf16 || ctx.allow_tf32() ? "tensor cores allowed" : "strict fp32",
               plan.geometry.str(), ctx.workspace_limit() >> 20,
               s.graph_unavailable.empty() ? "" : "; graph API: ", s.graph_unavailable);
}

}  // namespace convlab::backend_cuda
