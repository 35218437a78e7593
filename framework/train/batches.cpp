#include "framework/train/batches.h"

namespace convlab {

Tensor device_order(const std::vector<int32_t>& order, Device device) {
  Tensor host = Tensor::from_vector<int32_t>({static_cast<int64_t>(order.size())}, order);
  return device.is_cpu() ? std::move(host) : host.to(device);
}

Tensor identity_order(int64_t count, Device device) {
  std::vector<int32_t> order(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) order[i] = static_cast<int32_t>(i);
  return device_order(order, device);
}

Batch assemble_batch(const DeviceImageSet& data, const Tensor& order, int64_t first, int64_t count,
                     const kernels::AugmentConfig& config, bool augment, uint64_t seed, uint32_t epoch,
                     const BatchStorage& storage) {
  CONVLAB_CHECK(first >= 0 && count > 0 && first + count <= order.numel(), "batch [{}, {}) outside an order of {}",
                first, first + count, order.numel());
  const Device device = data.images.device();
  Batch batch{Tensor::empty({count, 3, 32, 32}, storage.dtype, device, storage.format),
              Tensor::empty({count}, DType::i32, device)};
  backend(device).gather_batch(data.images, data.labels, order, first, config, augment, seed, epoch, batch.images,
                               batch.labels);
  return batch;
}

}  // namespace convlab
