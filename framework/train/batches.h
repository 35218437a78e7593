// Batches from a DeviceImageSet: the per-epoch order and the gathered, normalised (and for
// training, augmented) float batches, assembled on the data's device.
#pragma once

#include <cstdint>
#include <vector>

#include "framework/backend/backend.h"
#include "framework/train/device_dataset.h"

namespace convlab {

struct Batch {
  Tensor images;  // (B, 3, 32, 32) f32
  Tensor labels;  // (B) i32
};

// Examples [first, first + count) of `order`, gathered from `data`. With `augment`, each
// example is cropped, flipped and cut out as kernels/augment.h draws it for (seed, epoch,
// its index in `data`).
Batch assemble_batch(const DeviceImageSet& data, const std::vector<int32_t>& order, int64_t first, int64_t count,
                     const kernels::AugmentConfig& config, bool augment, uint64_t seed, uint32_t epoch);

}  // namespace convlab
