// The small results of the float64 measures' device steps (a Gram, eigenvalues, row sums)
// copied to the host, waiting for the stream that computed them. CUDA builds only.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "framework/backend/cuda/cuda_check.h"

namespace convlab::linalg_cuda {

// `count` values of T from the device, once the work queued on `stream` is done.
template <class T>
std::vector<T> copy_to_host(const T* device, int64_t count, cudaStream_t stream) {
  std::vector<T> out(static_cast<size_t>(count));
  CUDA_CHECK(cudaMemcpyAsync(out.data(), device, static_cast<size_t>(count) * sizeof(T), cudaMemcpyDeviceToHost,
                             stream));
  CUDA_CHECK(cudaStreamSynchronize(stream));
  return out;
}

}  // namespace convlab::linalg_cuda
