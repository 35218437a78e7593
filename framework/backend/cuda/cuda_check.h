// CUDA_CHECK / CUDNN_CHECK / CUBLAS_CHECK: run the call, and on failure throw convlab::Error
// naming the expression, the error, the file and the line. CUDA_CHECK_LAUNCH() after every
// kernel launch.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

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

#define CUDNN_CHECK(expr)                                                                          \
  do {                                                                                             \
    const cudnnStatus_t convlab_status_ = (expr);                                                  \
    if (convlab_status_ != CUDNN_STATUS_SUCCESS)                                                   \
      ::convlab::throw_error(__FILE__, __LINE__, fmt::format("cuDNN error in {}: {}", #expr,      \
                                                             cudnnGetErrorString(convlab_status_))); \
  } while (0)

#define CUBLAS_CHECK(expr)                                                                              \
  do {                                                                                                  \
    const cublasStatus_t convlab_status_ = (expr);                                                      \
    if (convlab_status_ != CUBLAS_STATUS_SUCCESS)                                                       \
      ::convlab::throw_error(__FILE__, __LINE__, fmt::format("cuBLAS error in {}: {} ({})", #expr,     \
                                                             cublasGetStatusString(convlab_status_),    \
                                                             cublasGetStatusName(convlab_status_)));    \
  } while (0)
