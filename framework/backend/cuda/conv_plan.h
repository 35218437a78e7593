// What cuDNN needs to run one convolution shape, built once and kept by the CudaContext:
// the descriptors, and per direction the algorithms the heuristics proposed, filtered to
// deterministic ones that fit the workspace limit (backend/cuda/conv2d.cpp chooses them).
// C++17: cuda_context.h, which .cu files include, includes this.
#pragma once

#include <cudnn.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace convlab::backend_cuda {

// The padded input shape (N, C, H, W), the filter (K, R, S), cuDNN's symmetric padding
// (h, w), the strides (h, w), the output (OH, OW), and whether TF32 is allowed.
using ConvKey = std::array<int64_t, 14>;

struct ConvAlgorithm {
  int algo = 0;                               // a cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;  // set on the descriptor before running it
  size_t workspace = 0;                       // bytes it needs
};

// The candidates of one direction in the heuristics' order of preference. `chosen` moves on
// when cuDNN refuses a candidate at run time.
struct ConvAlgorithms {
  bool searched = false;
  std::vector<ConvAlgorithm> candidates;
  size_t chosen = 0;
};

struct ConvPlan {
  ConvPlan() = default;
  ConvPlan(const ConvPlan&) = delete;
  ConvPlan& operator=(const ConvPlan&) = delete;
  ~ConvPlan() {
    if (x) cudnnDestroyTensorDescriptor(x);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
  }

  cudnnTensorDescriptor_t x = nullptr;  // (N, C, H, W) as cuDNN sees it (padded if it must be)
  cudnnTensorDescriptor_t y = nullptr;  // (N, K, OH, OW)
  cudnnFilterDescriptor_t w = nullptr;  // (K, C, R, S)
  cudnnConvolutionDescriptor_t conv = nullptr;
  ConvAlgorithms forward, backward_data, backward_filter;
};

}  // namespace convlab::backend_cuda
