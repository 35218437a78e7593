// A labelled image set on a device, as the batch assembler reads it.
#pragma once

#include <vector>

#include "framework/core/tensor.h"
#include "framework/data/image_set.h"

namespace convlab {

struct DeviceImageSet {
  Tensor images;  // (M, 3, 32, 32) u8
  Tensor labels;  // (M) u8
  int64_t size() const { return labels.numel(); }
};

// Copies the examples `picked` (all of them when empty) of `set` to `device`, in that order.
DeviceImageSet upload(const ImageSet& set, Device device, const std::vector<int32_t>& picked = {});

// A fixed pseudo-random choice of `count` of `total` examples (all when count >= total),
// the same for every run with the same key: training subsets use the run's seed, evaluation
// subsets a constant so that runs stay comparable.
std::vector<int32_t> choose_examples(int64_t total, int64_t count, uint64_t key);

}  // namespace convlab
