// A GoogleTest fixture for tests that need a GPU: skips when none answers (any CUDA error
// counts as none), else gives a fresh CUDA context on GPU 0. CUDA builds only.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "framework/backend/cuda/cuda_context.h"
#include "framework/backend/cuda_device.h"
#include "framework/core/device.h"

namespace convlab::test_support {

class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU";
    context_ = create_cuda_context(0);
  }
  CudaContext& cuda() { return *static_cast<CudaContext*>(context_.get()); }
  Device gpu() { return Device(context_.get()); }
  cudaStream_t stream() { return cuda().stream(); }

  std::unique_ptr<DeviceContext> context_;
};

}  // namespace convlab::test_support
