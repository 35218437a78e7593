// Timing convolution candidates once per shape, so that each direction runs the fastest of
// the algorithms the settings admit (only deterministic ones by default). Timing waits for
// the GPU, which a stream being recorded into a CUDA graph forbids: shapes first seen during
// a recording are timed on the context's timing stream instead.
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

#include <cuda_runtime.h>

namespace convlab::backend_cuda {

// Runs each of `count` candidates once to warm up, then kTimedRuns times between two CUDA
// events on `stream` (which must not be recording); run(i) queues candidate i on it and
// returns false if cuDNN refused it or its workspace did not fit. Returns milliseconds per
// run, infinity for refused candidates.
std::vector<float> time_candidates(cudaStream_t stream, size_t count, const std::function<bool(size_t)>& run);

// Indices of the candidates that ran, fastest first (equal times keep the given order).
std::vector<size_t> fastest_first(const std::vector<float>& milliseconds);

}  // namespace convlab::backend_cuda
