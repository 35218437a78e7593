#include "framework/backend/cuda/conv_timing.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "framework/backend/cuda/cuda_check.h"

namespace convlab::backend_cuda {
namespace {

constexpr int kTimedRuns = 3;

// A pair of CUDA events, destroyed with the object.
class EventPair {
 public:
  EventPair() {
    CUDA_CHECK(cudaEventCreate(&start_));
    const cudaError_t status = cudaEventCreate(&stop_);
    if (status != cudaSuccess) cudaEventDestroy(start_);
    CUDA_CHECK(status);
  }
  ~EventPair() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  EventPair(const EventPair&) = delete;
  EventPair& operator=(const EventPair&) = delete;
  cudaEvent_t start() const { return start_; }
  cudaEvent_t stop() const { return stop_; }

 private:
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

}  // namespace

std::vector<float> time_candidates(cudaStream_t stream, size_t count, const std::function<bool(size_t)>& run) {
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  CUDA_CHECK(cudaStreamIsCapturing(stream, &capture));
  CONVLAB_CHECK(capture == cudaStreamCaptureStatusNone,
                "convolution candidates are timed on a stream that is not being recorded into a CUDA graph");
  const EventPair events;
  std::vector<float> milliseconds(count, std::numeric_limits<float>::infinity());
  for (size_t i = 0; i < count; ++i) {
    if (!run(i)) continue;  // the warm-up: a refused candidate is never timed
    CUDA_CHECK(cudaEventRecord(events.start(), stream));
    bool ok = true;
    for (int r = 0; r < kTimedRuns && ok; ++r) ok = run(i);
    CUDA_CHECK(cudaEventRecord(events.stop(), stream));
    CUDA_CHECK(cudaEventSynchronize(events.stop()));
    float elapsed = 0;
    CUDA_CHECK(cudaEventElapsedTime(&elapsed, events.start(), events.stop()));
    if (ok) milliseconds[i] = elapsed / kTimedRuns;
  }
  return milliseconds;
}

std::vector<size_t> fastest_first(const std::vector<float>& milliseconds) {
  std::vector<size_t> order;
  for (size_t i = 0; i < milliseconds.size(); ++i)
    if (milliseconds[i] < std::numeric_limits<float>::infinity()) order.push_back(i);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return milliseconds[a] < milliseconds[b]; });
  return order;
}

}  // namespace convlab::backend_cuda
