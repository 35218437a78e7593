// Creating a CUDA device. Works in every build: without CUDA compiled in, cuda_available()
// is false and create_cuda_context() throws a clear error.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "framework/core/device.h"

namespace convlab {

// True when CUDA is compiled in and a GPU answers (any CUDA error, e.g. no driver, is "no").
bool cuda_available();

// How a CUDA device runs its work.
struct CudaOptions {
  // Only deterministic cuDNN algorithms (the same inputs give the same bits); false admits
  // the others when they time faster (train_config.deterministic, --nondeterministic).
  bool deterministic = true;
  // TF32 tensor cores for fp32 convolutions and GEMMs (false: strict fp32).
  bool allow_tf32 = true;
  // Wait for and check every op, naming it on a fault (--sync-each-op; the environment
  // variable CONVLAB_SYNC_EACH_OP=1 turns it on as well).
  bool sync_each_op = false;
};

// A CUDA device context (its own stream, caching allocator and library handles) on GPU
// `ordinal`. Tensors made on it must be destroyed before it.
std::unique_ptr<DeviceContext> create_cuda_context(int ordinal = 0, const CudaOptions& options = {});

// Waits for all work on GPU `ordinal`, from every stream of every library in the process
// (cudaDeviceSynchronize): before reading arrays that another library (PyTorch, JAX, CuPy)
// computed on streams of its own. Without CUDA compiled in it throws, as create_cuda_context.
void wait_for_gpu(int ordinal);

// Bytes a CUDA device can still hand out: what the driver reports free, plus the blocks its
// context's allocator keeps for reuse. Throws for the CPU and without CUDA compiled in.
uint64_t free_device_memory(Device device);

// "driver 13.0, runtime 13.0, cuDNN 9.19.0 (built with 9.19.0), cuBLAS 13.1.0, GPU 0: NVIDIA
// H200 (132 SMs, 139 GiB, compute 9.0)", or why there is none.
std::string cuda_versions();

// One line per convolution shape and direction run so far on a CUDA device: the route, the
// algorithm chosen and its time (empty for the CPU).
std::vector<std::string> describe_conv_choices(Device device);

// The convolution algorithms a CUDA device has chosen so far, as text: one line per shape,
// storage, settings and direction, naming the route and the algorithm or engine (and its
// knobs). Timing may pick another algorithm in another process (several are often within
// noise of each other), so a run that must repeat bit for bit records this and pins it in the
// next process. Empty for the CPU and before any convolution ran.
std::string conv_algorithm_record(Device device);

// Makes a CUDA device take the recorded choices instead of timing: a shape and direction
// found in `record` runs that route and algorithm if cuDNN still offers it under the current
// settings; anything else is timed as usual (and describe_conv_choices says which were
// pinned). A line that does not parse throws, naming `source` and the line. Does nothing for
// the CPU.
void pin_conv_algorithms(Device device, const std::string& record, const std::string& source);

// A device named as on the command line: "cpu", "cuda" (GPU 0) or "auto" (GPU 0 when a GPU
// answers and its context starts, else the CPU; any CUDA error means no GPU). Owns the CUDA
// context, if any; tensors on the device must be destroyed before the handle.
class DeviceHandle {
 public:
  explicit DeviceHandle(const std::string& name, const CudaOptions& options = {});
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
