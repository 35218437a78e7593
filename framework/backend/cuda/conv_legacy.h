// Convolutions through cuDNN's legacy descriptors (cudnnConvolution*), which pad both sides
// of an axis equally: geometries with more padding on one side run on a padded copy of the
// input (and the input gradient is computed for the padded input, then cropped). Per
// direction, the algorithms the heuristics propose that the settings admit --
// deterministic ones only unless the context allows others, TF32 tensor cores only when
// allowed, never a conversion to fp16 -- within the workspace limit, plus a plain
// deterministic algorithm as a last resort.
#pragma once

#include <vector>

#include "framework/backend/conv_geometry.h"
#include "framework/backend/cuda/conv_plan.h"
#include "framework/backend/cuda/cuda_context.h"

namespace convlab::backend_cuda {

// How a geometry is handed to the legacy descriptors.
struct Lowering {
  int64_t pad_h = 0, pad_w = 0;           // symmetric padding cuDNN applies
  int64_t extra_top = 0, extra_left = 0;  // zeros written before the image in the scratch copy
  int64_t padded_h = 0, padded_w = 0;     // the input height and width cuDNN sees
  bool copies = false;                    // whether the input goes through a padded copy
};
Lowering lower(const ConvGeometry& g);

// The legacy descriptors of a plan, made on first use.
LegacyConv& legacy_for(CudaContext& ctx, ConvPlan& plan);

// The legacy algorithms of direction d as candidates (route legacy, or padded_copy when the
// geometry needs the copy), in the heuristics' order; searched on first use.
std::vector<ConvCandidate> legacy_candidates(CudaContext& ctx, ConvPlan& plan, ConvDirection d);

// Queues legacy algorithm `index` of direction d on the stream of the context's cuDNN handle,
// with the operands as cuDNN sees them (a padded input, a padded input gradient):
//   forward a = x, b = w -> out = y;  backward data a = w, b = grad_y -> out = grad_x;
//   backward filter a = x, b = grad_y -> out = grad_w.
cudnnStatus_t run_legacy_candidate(CudaContext& ctx, LegacyConv& legacy, ConvDirection d, size_t index,
                                   const void* a, const void* b, void* out, void* workspace);

}  // namespace convlab::backend_cuda
