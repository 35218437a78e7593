// CONVLAB_CUBLAS_CHECK: run a cuBLAS call, and on failure throw convlab::Error naming the
// expression, the status, the file and the line (as CUDA_CHECK does for the runtime).
#pragma once

#include <cublas_v2.h>

#include "framework/core/error.h"

#define CONVLAB_CUBLAS_CHECK(expr)                                                                          \
  do {                                                                                                      \
    const cublasStatus_t convlab_status_ = (expr);                                                          \
    if (convlab_status_ != CUBLAS_STATUS_SUCCESS)                                                           \
      ::convlab::throw_error(__FILE__, __LINE__,                                                            \
                             fmt::format("cuBLAS error in {}: {} ({})", #expr, cublasGetStatusString(convlab_status_), \
                                         cublasGetStatusName(convlab_status_)));                           \
  } while (0)
