// What cuDNN needs to run one convolution shape, built once and kept by the CudaContext.
// Two routes:
// - the legacy descriptors (conv_legacy.h), which pad both sides of an axis equally;
//   geometries with more padding on one side (XLA's SAME at stride 2) go through a padded
//   copy of the input on this route;
// - cuDNN's graph API (conv_graph.h), which takes pre- and post-paddings, so those
//   geometries run on the tensors as they are.
// Per direction, every candidate of every route the shape and settings admit is timed once
// against the others and the fastest kept (conv_choice.h); the route that ran last is
// recorded, so reports name what really ran. C++17: cuda_context.h, which .cu files
// include, includes this.
#pragma once

#include <cudnn.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "framework/backend/conv_geometry.h"
#include "framework/core/tensor.h"

namespace convlab::backend_cuda {

// The input (N, C, H, W), the filter (K, R, S), the paddings (top, left, bottom, right), the
// strides (h, w), the storage (dtype, channels_last), and the settings the choice depends
// on: TF32 allowed, only deterministic algorithms, the graph-API route allowed.
using ConvKey = std::array<int64_t, 18>;

// The storage every operand of one convolution shares: f32 or bf16, contiguous or
// channels_last (activations NHWC, filters KRSC).
struct ConvStorage {
  DType dtype = DType::f32;
  bool channels_last = false;
};

enum class ConvDirection { forward = 0, backward_data = 1, backward_filter = 2 };
const char* direction_name(ConvDirection direction);

enum class ConvRoute { legacy = 0, padded_copy = 1, graph_api = 2 };
// "legacy", "legacy, padded copy", "graph API (pre/post padding)".
const char* route_name(ConvRoute route);

// One legacy algorithm as the heuristics proposed it.
struct ConvAlgorithm {
  int algo = 0;                               // a cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;  // set on the descriptor before running it
  size_t workspace = 0;                       // bytes it needs
  bool deterministic = true;
};

// The legacy descriptors of a shape as cuDNN sees it (padded if it must be).
struct LegacyConv {
  LegacyConv() = default;
  LegacyConv(const LegacyConv&) = delete;
  LegacyConv& operator=(const LegacyConv&) = delete;
  ~LegacyConv();

  cudnnTensorDescriptor_t x = nullptr;  // (N, C, H, W), padded when the geometry needs a copy
  cudnnTensorDescriptor_t y = nullptr;  // (N, K, OH, OW)
  cudnnFilterDescriptor_t w = nullptr;  // (K, C, R, S)
  cudnnConvolutionDescriptor_t conv = nullptr;
  std::array<std::vector<ConvAlgorithm>, 3> algorithms;  // by ConvDirection, heuristics' order
  std::array<bool, 3> searched{};
};

struct GraphConv;  // conv_graph.h: one direction on the graph API
// Deletes a GraphConv where its type is complete (conv_graph.cpp).
struct GraphConvDeleter {
  void operator()(GraphConv* conv) const;
};
using GraphConvPtr = std::unique_ptr<GraphConv, GraphConvDeleter>;

// One candidate of a direction: legacy algorithm `index` of LegacyConv::algorithms, or
// graph-API engine configuration `index` of the GraphConv.
struct ConvCandidate {
  ConvRoute route = ConvRoute::legacy;
  size_t index = 0;
  size_t workspace = 0;       // bytes it needs
  int64_t id = 0;             // the legacy algorithm, or the engine's global index (-1: unknown)
  int64_t math = 0;           // legacy: the cudnnMathType_t it runs with
  bool deterministic = true;
  std::string name;           // "algo 1 fp32", "engine 12, non-deterministic"
};

// How one direction of a shape runs: its candidates (fastest first once timed), the one in
// use, and what ran last.
struct ConvDirectionState {
  bool prepared = false;  // candidates gathered
  bool timed = false;     // ordered by time (or pinned: the recorded one first, untimed)
  bool pinned = false;    // taken from a record of an earlier run (conv_algorithm_record)
  bool legacy_included = false;  // whether the legacy route's algorithms are among the candidates
  std::vector<ConvCandidate> candidates;
  std::vector<float> milliseconds;  // per candidate once timed (infinity: untimed)
  size_t chosen = 0;                // moves on when cuDNN refuses a candidate at run time
  std::optional<ConvRoute> last_route;  // the route of the last call; none before one ran
  // Why the graph API does not serve this direction (empty when it does or was not asked).
  std::string graph_unavailable;
};

// A choice recorded by an earlier process (conv_algorithm_record): taken instead of timing
// when a candidate of the same route and id (and math type) is offered again.
struct PinnedConv {
  ConvRoute route = ConvRoute::legacy;
  int64_t id = 0;
  int64_t math = 0;
};
using PinnedConvKey = std::pair<ConvKey, int>;  // the shape and settings, the ConvDirection

struct ConvPlan {
  ConvPlan();
  ConvPlan(const ConvPlan&) = delete;
  ConvPlan& operator=(const ConvPlan&) = delete;
  ~ConvPlan();

  ConvKey key{};
  ConvGeometry geometry;
  ConvStorage storage;
  std::unique_ptr<LegacyConv> legacy;  // made on first use of the legacy route
  std::array<GraphConvPtr, 3> graph;   // per ConvDirection, for asymmetric paddings
  std::array<ConvDirectionState, 3> directions;
};

}  // namespace convlab::backend_cuda
