// What the convolutions of a CUDA context chose, per shape and direction: the route, the
// algorithm or engine and its timed cost (convlab-bench prints it; tests check routes).
#pragma once

#include <string>
#include <vector>

#include "framework/backend/cuda/conv_plan.h"
#include "framework/backend/cuda/cuda_context.h"

namespace convlab::backend_cuda {

struct ConvChoice {
  std::string geometry;   // ConvGeometry::str()
  ConvDirection direction = ConvDirection::forward;
  std::string route;      // "legacy", "legacy, padded copy" or "graph API (pre/post padding)"
  std::string algorithm;  // "algo 1 (0.052 ms)", "engine 12, non-deterministic (0.041 ms)", ...
  ConvStorage storage;                          // f32 or bf16, contiguous or channels_last
  bool tf32 = true, deterministic_only = true;  // the settings it was chosen under
};

// Every direction that has run so far (conv2d.cpp).
std::vector<ConvChoice> conv_choices(CudaContext& ctx);

}  // namespace convlab::backend_cuda
