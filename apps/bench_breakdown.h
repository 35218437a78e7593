// convlab-bench --breakdown: every op of one training step timed alone at its real shapes,
// grouped by kind, with the rest of the measured step (launch gaps, autograd and allocator
// bookkeeping on the host) as its own row, so that the rows sum to the measured step.
#pragma once

#include <cstdint>

#include "framework/nn/model.h"
#include "framework/train/precision.h"

namespace convlab::bench {

// `measured_step_s`: the step time to account for (from the same process); activations and
// the working copies of the weights in `storage`, as the step ran them.
void print_breakdown(nn::Model& model, int64_t batch, Device device, double measured_step_s,
                     const BatchStorage& storage);

}  // namespace convlab::bench
