// Batches from a DeviceImageSet: the per-epoch order and the gathered, normalised (and for
// training, augmented) float batches, assembled on the data's device.
#pragma once

#include <cstdint>
#include <vector>

#include "framework/backend/backend.h"
#include "framework/train/device_dataset.h"
#include "framework/train/precision.h"

namespace convlab {

struct Batch {
  Tensor images;  // (B, 3, 32, 32): f32 unless asked otherwise, contiguous or channels_last
  Tensor labels;  // (B) i32
};

// An order of examples as the batch assembler reads it: (M) i32 on `device`, uploaded once.
Tensor device_order(const std::vector<int32_t>& order, Device device);
// 0, 1, ..., count - 1 (evaluation and feature extraction).
Tensor identity_order(int64_t count, Device device);

// Examples order[first .. first + count) gathered from `data` (order on data's device). With
// `augment`, each example is cropped, flipped and cut out as kernels/augment.h draws it for
// (seed, epoch, its index in `data`).
// The images are written in `storage` directly (bf16 rounded once from the normalised float).
Batch assemble_batch(const DeviceImageSet& data, const Tensor& order, int64_t first, int64_t count,
                     const kernels::AugmentConfig& config, bool augment, uint64_t seed, uint32_t epoch,
                     const BatchStorage& storage = {});

}  // namespace convlab
