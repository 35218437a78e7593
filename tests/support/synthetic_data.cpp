#include "tests/support/synthetic_data.h"

#include "kernels/philox.h"

namespace convlab::test_support {

ImageSet random_image_set(int64_t count, uint64_t key) {
  ImageSet set;
  set.images.resize(static_cast<size_t>(count) * 3072);
  set.labels.resize(static_cast<size_t>(count));
  for (size_t i = 0; i < set.images.size(); ++i) set.images[i] = static_cast<uint8_t>(kernels::random_u32({key, 0, 0}, i));
  for (int64_t i = 0; i < count; ++i) set.labels[static_cast<size_t>(i)] = static_cast<uint8_t>(i % 10);
  return set;
}

}  // namespace convlab::test_support
