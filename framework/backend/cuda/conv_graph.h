// Convolutions through cuDNN's graph API (backend descriptors). Unlike the legacy
// descriptors it takes separate pre- and post-paddings, so XLA's SAME at stride 2 (0 before,
// 1 after) runs on the tensors as they are: no padded copy of the input in the forward and
// backward-filter passes, no cropped copy of the input gradient.
//
// Per direction: the engine configurations that cuDNN's heuristics (modes A and fallback)
// propose, filtered by their numerical notes (non-deterministic ones only when the context
// admits them; for fp32 data tensor-core ones only with TF32 allowed; never ones that
// convert inputs down), built into execution plans that fit the workspace limit, timed
// once, fastest kept. Data f32 or bf16 (fp32 accumulation), NCHW or NHWC (filters KRSC).
#pragma once

#include <memory>
#include <string>

#include "framework/backend/conv_geometry.h"
#include "framework/backend/cuda/conv_plan.h"
#include "framework/backend/cuda/cuda_context.h"

namespace convlab::backend_cuda {

// Builds them; null when cuDNN offers no engine that fits the context's settings (the caller
// then takes the legacy route). Errors other than "not supported" throw.
GraphConvPtr build_graph_conv(CudaContext& ctx, const ConvGeometry& g, const ConvStorage& storage,
                              ConvDirection direction);

// Runs the chosen plan (timing the candidates first, unless a graph is being recorded):
//   forward          a = x (N, C, H, W), b = w (K, C, R, S)   -> out = y (N, K, OH, OW)
//   backward data    a = w,              b = grad_y           -> out = grad_x
//   backward filter  a = x,              b = grad_y           -> out = grad_w
// Returns false, having written nothing that matters, when every candidate was refused at
// run time (the caller then takes the legacy route).
bool run_graph_conv(CudaContext& ctx, GraphConv& conv, const ConvGeometry& g, const void* a, const void* b,
                    void* out);

// "engine 12 (0.041 ms)": the choice, for reports.
std::string describe_choice(const GraphConv& conv);

}  // namespace convlab::backend_cuda
