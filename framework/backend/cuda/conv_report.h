// What the convolutions of a CUDA context chose, per shape and direction: the route that ran
// last, the algorithm or engine and its timed cost (convlab-bench prints it; tests check
// routes), and the record of those choices that a later process can pin
// (conv_algorithm_record, pin_conv_algorithms in cuda_device.h).
#pragma once

#include <string>
#include <vector>

#include "framework/backend/cuda/conv_plan.h"
#include "framework/backend/cuda/cuda_context.h"

namespace convlab::backend_cuda {

struct ConvChoice {
  std::string geometry;   // ConvGeometry::str()
  ConvDirection direction = ConvDirection::forward;
  std::string route;      // the route of the last call: route_name()
  std::string algorithm;  // "algo 1 (0.052 ms)", "engine 12, non-deterministic (0.041 ms)", "engine 3 (pinned)"
  size_t candidates = 0;  // how many were timed against each other (0 when pinned)
  bool pinned = false;    // taken from an earlier process's record, untimed
  // Why the graph API does not serve this shape (empty when it does or was not asked).
  std::string graph_unavailable;
  ConvStorage storage;                          // f32 or bf16, contiguous or channels_last
  bool tf32 = true, deterministic_only = true;  // the settings it was chosen under
  int asymmetric_route = 0;                     // CudaContext::AsymmetricRoute it was chosen under
};

// Every direction that has run so far.
std::vector<ConvChoice> conv_choices(CudaContext& ctx);

}  // namespace convlab::backend_cuda
