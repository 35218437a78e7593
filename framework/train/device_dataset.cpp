#include "framework/train/device_dataset.h"

#include <cstring>

#include "framework/data/shuffle.h"

namespace convlab {

DeviceImageSet upload(const ImageSet& set, Device device, const std::vector<int32_t>& picked) {
  constexpr int64_t kPixels = 3 * 32 * 32;
  const int64_t count = picked.empty() ? set.size() : static_cast<int64_t>(picked.size());
  Tensor images = Tensor::empty({count, 3, 32, 32}, DType::u8, cpu());
  Tensor labels = Tensor::empty({count}, DType::u8, cpu());
  for (int64_t i = 0; i < count; ++i) {
    const int64_t source = picked.empty() ? i : picked[i];
    CONVLAB_CHECK(source >= 0 && source < set.size(), "example {} is outside the set of {}", source, set.size());
    std::memcpy(images.host<uint8_t>() + i * kPixels, set.images.data() + source * kPixels, kPixels);
    labels.host<uint8_t>()[i] = set.labels[source];
  }
  if (device.is_cpu()) return {std::move(images), std::move(labels)};
  return {images.to(device), labels.to(device)};
}

std::vector<int32_t> choose_examples(int64_t total, int64_t count, uint64_t key) {
  // A permutation no training epoch uses (epoch numbers stay far below 2^32 - 1).
  std::vector<int32_t> order = epoch_order(total, key, 0xFFFFFFFFu);
  if (count < total) order.resize(static_cast<size_t>(count));
  return order;
}

}  // namespace convlab
