// Choosing and running one direction of a convolution shape. On first use the candidates of
// every route the shape and settings admit are gathered -- for asymmetric padding the
// graph API's engines and the padded-copy route's legacy algorithms, otherwise the legacy
// algorithms -- and timed against each other (including the copy the padded route makes), or
// the one pinned by an earlier process's record is taken untimed. The fastest runs from then
// on; one that cuDNN refuses at run time gives way to the next. The choice is made before
// the first call's work is queued, also when that call is being recorded into a CUDA graph
// (the candidates are then timed on a second stream into scratch memory), so eager calls and
// replays run the same algorithm.
#pragma once

#include "framework/backend/cuda/conv_plan.h"
#include "framework/backend/cuda/cuda_context.h"

namespace convlab::backend_cuda {

// Queues direction d of the plan's shape on the context's stream:
//   forward a = x, b = w -> out = y;  backward data a = w, b = grad_y -> out = grad_x;
//   backward filter a = x, b = grad_y -> out = grad_w   (tensors as the geometry has them).
void run_conv_direction(CudaContext& ctx, ConvPlan& plan, ConvDirection d, const Tensor& a, const Tensor& b,
                        Tensor& out, const char* op);

// The largest workspace any chosen candidate of the context needs.
size_t chosen_workspace(CudaContext& ctx);

}  // namespace convlab::backend_cuda
