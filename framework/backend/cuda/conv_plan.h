// What cuDNN needs to run one convolution shape, built once and kept by the CudaContext.
// Two routes (backend/cuda/conv2d.cpp chooses):
// - the legacy descriptors (cudnnConvolution*), which pad both sides of an axis equally;
//   geometries with more padding on one side (XLA's SAME at stride 2) go through a padded
//   copy of the input on this route;
// - cuDNN's graph API (conv_graph.cpp), which takes pre- and post-paddings, so those
//   geometries run on the tensors as they are.
// Per direction, the candidates either route offers are timed once (conv_timing.h) and the
// fastest is kept. C++17: cuda_context.h, which .cu files include, includes this.
#pragma once

#include <cudnn.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "framework/backend/conv_geometry.h"
#include "framework/core/tensor.h"

namespace convlab::backend_cuda {

// The input (N, C, H, W), the filter (K, R, S), the paddings (top, left, bottom, right), the
// strides (h, w), the storage (dtype, channels_last), and the math settings: TF32 allowed,
// only deterministic algorithms.
using ConvKey = std::array<int64_t, 17>;

// The storage every operand of one convolution shares: f32 or bf16, contiguous or
// channels_last (activations NHWC, filters KRSC).
struct ConvStorage {
  DType dtype = DType::f32;
  bool channels_last = false;
};

enum class ConvDirection { forward = 0, backward_data = 1, backward_filter = 2 };
const char* direction_name(ConvDirection direction);

// One legacy algorithm as the heuristics proposed it.
struct ConvAlgorithm {
  int algo = 0;                               // a cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;  // set on the descriptor before running it
  size_t workspace = 0;                       // bytes it needs
  bool deterministic = true;
};

// The candidates of one direction, best first: in the heuristics' order until timed, then
// fastest first. `chosen` moves on when cuDNN refuses a candidate at run time.
struct ConvAlgorithms {
  bool searched = false;
  bool timed = false;
  std::vector<ConvAlgorithm> candidates;
  std::vector<float> milliseconds;  // per candidate once timed (in candidates' order)
  size_t chosen = 0;
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
  std::array<ConvAlgorithms, 3> algorithms;  // by ConvDirection
};

struct GraphConv;  // conv_graph.h: one direction on the graph API
// Deletes a GraphConv where its type is complete (conv_graph.cpp).
struct GraphConvDeleter {
  void operator()(GraphConv* conv) const;
};
using GraphConvPtr = std::unique_ptr<GraphConv, GraphConvDeleter>;

struct ConvPlan {
  ConvPlan();
  ConvPlan(const ConvPlan&) = delete;
  ConvPlan& operator=(const ConvPlan&) = delete;
  ~ConvPlan();

  ConvGeometry geometry;
  ConvStorage storage;
  std::unique_ptr<LegacyConv> legacy;  // made on first use of the legacy route
  // Per ConvDirection, for asymmetric paddings: the graph-API plans, made on first use.
  // Null before; `graph_unavailable` once cuDNN offered no engine (the legacy route is
  // then used for that direction).
  std::array<GraphConvPtr, 3> graph;
  std::array<bool, 3> graph_unavailable{};
};

}  // namespace convlab::backend_cuda
