#include "framework/train/batches.h"

namespace convlab {

Batch assemble_batch(const DeviceImageSet& data, const std::vector<int32_t>& order, int64_t first, int64_t count,
                     const kernels::AugmentConfig& config, bool augment, uint64_t seed, uint32_t epoch) {
  CONVLAB_CHECK(first >= 0 && count > 0 && first + count <= static_cast<int64_t>(order.size()),
                "batch [{}, {}) outside an order of {}", first, first + count, order.size());
  const Device device = data.images.device();
  const std::vector<int32_t> picked(order.begin() + first, order.begin() + first + count);
  Tensor indices = Tensor::from_vector<int32_t>({count}, picked);
  if (!device.is_cpu()) indices = indices.to(device);
  Batch batch{Tensor::empty({count, 3, 32, 32}, DType::f32, device), Tensor::empty({count}, DType::i32, device)};
  backend(device).gather_batch(data.images, data.labels, indices, config, augment, seed, epoch, batch.images,
                               batch.labels);
  return batch;
}

}  // namespace convlab
