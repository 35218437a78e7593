// Creating a CUDA device. Works in every build: without CUDA compiled in, cuda_available()
// is false and create_cuda_context() throws a clear error.
#pragma once

#include <memory>
#include <string>

#include "framework/core/device.h"

namespace convlab {

// True when CUDA is compiled in and a GPU answers (any CUDA error, e.g. no driver, is "no").
bool cuda_available();

// A CUDA device context (its own stream, caching allocator and library handles) on GPU
// `ordinal`. Tensors made on it must be destroyed before it.
std::unique_ptr<DeviceContext> create_cuda_context(int ordinal = 0);

// A device named as on the command line: "cpu", "cuda" (GPU 0) or "auto" (GPU 0 when a GPU
// answers and its context starts, else the CPU; any CUDA error means no GPU). Owns the CUDA
// context, if any; tensors on the device must be destroyed before the handle.
class DeviceHandle {
 public:
  explicit DeviceHandle(const std::string& name);
  Device device() const { return device_; }
  // What was chosen and why, for a run's first line and its records:
  // "cpu", "cuda:0 (NVIDIA H200)", "cpu, chosen by --device auto: no GPU answered".
  const std::string& choice() const { return choice_; }

 private:
  std::unique_ptr<DeviceContext> owned_;
  Device device_ = cpu();
  std::string choice_;
};

}  // namespace convlab
