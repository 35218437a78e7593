// CUDA_CHECK / CUDNN_CHECK / CUBLAS_CHECK: run the call, and on failure throw convlab::Error
// naming the expression, the error, the file and the line. CUDA_CHECK_LAUNCH() after every
// kernel launch.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <string>

#include "framework/core/error.h"

#define CUDA_CHECK(expr)                                                                        \
  do {                                                                                          \
    const cudaError_t convlab_status_ = (expr);                                                 \
    if (convlab_status_ != cudaSuccess)                                                         \
      ::convlab::throw_error(__FILE__, __LINE__,                                                \
                             fmt::format("CUDA error in {}: {} ({}){}", #expr,                  \
                                         cudaGetErrorString(convlab_status_),                   \
                                         cudaGetErrorName(convlab_status_),                     \
                                         convlab_status_ == cudaErrorMemoryAllocation            \
                                             ? ": the GPU is out of memory; use a smaller batch" \
                                             : ""));                                            \
  } while (0)

#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

namespace convlab {

// A failed cuDNN call's status, with cuDNN's own account of it (cudnnGetLastErrorString: the
// last error on this thread, cuDNN 9) and how to see its full API log.
inline std::string describe_cudnn_error(cudnnStatus_t status) {
  char detail[1024] = {};
  cudnnGetLastErrorString(detail, sizeof detail);
  return fmt::format("{}{}{} (for cuDNN's API log, rerun with CUDNN_LOGLEVEL_DBG=2 CUDNN_LOGDEST_DBG=stderr)",
                     cudnnGetErrorString(status), detail[0] ? ": " : "", detail);
}

}  // namespace convlab

#define CUDNN_CHECK(expr)                                                                     \
  do {                                                                                        \
    const cudnnStatus_t convlab_status_ = (expr);                                             \
    if (convlab_status_ != CUDNN_STATUS_SUCCESS)                                              \
      ::convlab::throw_error(__FILE__, __LINE__,                                              \
                             fmt::format("cuDNN error in {}: {}", #expr,                      \
                                         ::convlab::describe_cudnn_error(convlab_status_)));  \
  } while (0)

#define CUBLAS_CHECK(expr)                                                                              \
  do {                                                                                                  \
    const cublasStatus_t convlab_status_ = (expr);                                                      \
    if (convlab_status_ != CUBLAS_STATUS_SUCCESS)                                                       \
      ::convlab::throw_error(__FILE__, __LINE__, fmt::format("cuBLAS error in {}: {} ({})", #expr,     \
                                                             cublasGetStatusString(convlab_status_),    \
                                                             cublasGetStatusName(convlab_status_)));    \
  } while (0)
