// Convolutions through cuDNN's graph API (backend descriptors). Unlike the legacy
// descriptors it takes separate pre- and post-paddings, so XLA's SAME at stride 2 (0 before,
// 1 after) runs on the tensors as they are: no padded copy of the input in the forward and
// backward-filter passes, no cropped copy of the input gradient.
//
// Per direction: the engine configurations that cuDNN's heuristics (modes A and fallback)
// propose, filtered by their numerical notes (non-deterministic ones only when the context
// admits them; for fp32 data tensor-core ones only with TF32 allowed; never ones that
// convert inputs down), one configuration per engine, at most a few, built into execution
// plans that fit the workspace limit. Engines that compile a kernel at run time (seconds per
// finalize) are taken only when no other engine is offered. They become candidates that
// conv_choice.h times against the legacy route's. Data f32 or bf16 (fp32 accumulation),
// NCHW or NHWC (filters KRSC).
//
// "Not supported" and "bad parameter" from cuDNN at any stage of the build mean "no graph
// API for this shape": the build returns null with the reason, and the legacy route serves
// the direction. CONVLAB_CONV_GRAPH_FAULT=<stage> (or CudaContext::set_graph_fault) makes a
// stage report "not supported", to test that fallback.
#pragma once

#include <string>
#include <vector>

#include "framework/backend/conv_geometry.h"
#include "framework/backend/cuda/conv_plan.h"
#include "framework/backend/cuda/cuda_context.h"

namespace convlab::backend_cuda {

// The stages a fault can be injected at, in build order; "execute" refuses every run.
inline constexpr const char* kGraphStages[] = {"tensor", "convolution", "operation", "operation graph",
                                               "heuristics", "plan", "execute"};

// Builds the plans of one direction; null, with `unavailable` saying why, when cuDNN does
// not support the shape or offers no engine that fits the context's settings. Other cuDNN
// errors throw.
GraphConvPtr build_graph_conv(CudaContext& ctx, const ConvGeometry& g, const ConvStorage& storage,
                              ConvDirection direction, std::string& unavailable);

// The built plans as candidates (route graph_api, index = position), best first as the
// heuristics ranked them.
std::vector<ConvCandidate> graph_candidates(const GraphConv& conv);

// Queues candidate `index` on the stream of the context's cuDNN handle:
//   forward          a = x (N, C, H, W), b = w (K, C, R, S)   -> out = y (N, K, OH, OW)
//   backward data    a = w,              b = grad_y           -> out = grad_x
//   backward filter  a = x,              b = grad_y           -> out = grad_w
// `workspace` holds at least the candidate's bytes. Returns cuDNN's status (nothing queued
// unless it is success).
cudnnStatus_t run_graph_candidate(CudaContext& ctx, GraphConv& conv, size_t index, const void* a, const void* b,
                                  void* out, void* workspace);

}  // namespace convlab::backend_cuda
