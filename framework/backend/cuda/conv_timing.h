// Timing convolution candidates once per shape, so that each direction runs the fastest of
// the algorithms the settings admit (only deterministic ones by default). The choice is made
// before any CUDA graph is recorded: timing waits for the GPU, which a recording forbids.
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

#include "framework/backend/cuda/cuda_context.h"

namespace convlab::backend_cuda {

// Runs each of `count` candidates once to warm up, then kTimedRuns times between two CUDA
// events on the context's stream; run(i) queues candidate i and returns false if cuDNN
// refused it. Returns milliseconds per run, infinity for refused candidates.
std::vector<float> time_candidates(CudaContext& ctx, size_t count, const std::function<bool(size_t)>& run);

// Indices of the candidates that ran, fastest first (equal times keep the given order).
std::vector<size_t> fastest_first(const std::vector<float>& milliseconds);

}  // namespace convlab::backend_cuda
