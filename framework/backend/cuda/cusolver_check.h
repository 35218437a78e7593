// CUSOLVER_CHECK: as CUBLAS_CHECK (cuda_check.h), for cuSOLVER calls.
#pragma once

#include <cusolverDn.h>

#include "framework/core/error.h"

#define CUSOLVER_CHECK(expr)                                                                                   \
  do {                                                                                                         \
    const cusolverStatus_t convlab_status_ = (expr);                                                           \
    if (convlab_status_ != CUSOLVER_STATUS_SUCCESS)                                                            \
      ::convlab::throw_error(__FILE__, __LINE__,                                                               \
                             fmt::format("cuSOLVER error in {}: status {}", #expr, static_cast<int>(convlab_status_))); \
  } while (0)
