// Batch assembly on the CPU: the gathered examples, normalisation only for evaluation,
// augmentation keyed by (seed, epoch, example), and repeatability.
#include <gtest/gtest.h>

#include "framework/train/batches.h"

using namespace convlab;

namespace {

DeviceImageSet make_images(int64_t count) {
  ImageSet set;
  set.images.resize(static_cast<size_t>(count) * 3072);
  set.labels.resize(static_cast<size_t>(count));
  for (size_t i = 0; i < set.images.size(); ++i) set.images[i] = static_cast<uint8_t>(kernels::random_u32({3, 0, 0}, i));
  for (int64_t i = 0; i < count; ++i) set.labels[i] = static_cast<uint8_t>((i * 7) % 10);
  return upload(set, cpu());
}

}  // namespace

TEST(Batches, EvaluationBatchesAreTheNormalisedExamplesInOrder) {
  const DeviceImageSet data = make_images(20);
  const Tensor order = device_order({4, 9, 1, 17, 3}, cpu());
  const kernels::AugmentConfig config = kernels::cifar10_augment_config(true, true, true);
  const Batch b = assemble_batch(data, order, 1, 3, config, /*augment=*/false, 0, 0);
  ASSERT_EQ(b.images.shape(), Shape({3, 3, 32, 32}));
  const int32_t expected[] = {9, 1, 17};
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(b.labels.host<int32_t>()[i], (expected[i] * 7) % 10);
    for (int p = 0; p < 3072; p += 97) {
      const uint8_t v = data.images.host<uint8_t>()[expected[i] * 3072 + p];
      EXPECT_EQ(b.images.host<float>()[i * 3072 + p], kernels::normalise_pixel(config, p / 1024, v));
    }
  }
  EXPECT_THROW(assemble_batch(data, order, 3, 3, config, false, 0, 0), Error);  // past the order's end
}

TEST(Batches, AugmentationRepeatsForTheSameSeedAndEpochOnly) {
  const DeviceImageSet data = make_images(16);
  const Tensor order = identity_order(16, cpu());
  const kernels::AugmentConfig config = kernels::cifar10_augment_config(true, true, true);
  const Batch a = assemble_batch(data, order, 0, 16, config, true, 7, 3);
  const Batch b = assemble_batch(data, order, 0, 16, config, true, 7, 3);
  const Batch c = assemble_batch(data, order, 0, 16, config, true, 7, 4);
  EXPECT_EQ(a.images.to_vector<float>(), b.images.to_vector<float>());
  EXPECT_NE(a.images.to_vector<float>(), c.images.to_vector<float>());
  // The same example drawn at another position of the order gets the same transform.
  const Tensor shifted = device_order({5, 0, 1, 2, 3, 4}, cpu());
  const Batch d = assemble_batch(data, shifted, 0, 1, config, true, 7, 3);
  for (int p = 0; p < 3072; ++p) ASSERT_EQ(d.images.host<float>()[p], a.images.host<float>()[5 * 3072 + p]);
}
