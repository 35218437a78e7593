// A training step recorded once as a CUDA graph and replayed as one launch, which removes
// the per-kernel launch cost of the ~100 small kernels of a step. The recorded step must
// not wait for the host, and everything it reads or writes across replays (parameters,
// optimiser state, the input buffers, counters, sums) must stay where it was during the
// recording; per-step values come from device memory (a step counter), not from kernel
// arguments. Temporaries of the recording live in the device's graph pool.
#pragma once

#include <functional>
#include <memory>

#include "framework/core/device.h"

namespace convlab {

class StepGraph {
 public:
  virtual ~StepGraph() = default;
  // Queues one replay on the device's stream.
  virtual void replay() = 0;
  // Kernels, copies and other operations the recording holds.
  virtual size_t node_count() const = 0;
};

// Records `step` on `device` (CUDA only; nothing runs during the recording) and returns the
// graph. Without CUDA in the build, or on the CPU, an error says so.
std::unique_ptr<StepGraph> capture_step(Device device, const std::function<void()>& step);

}  // namespace convlab
