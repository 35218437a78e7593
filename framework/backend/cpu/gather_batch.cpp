// CPU batch assembly: gather, normalise and augment, through kernels/augment.h.
#include "framework/backend/cpu/cpu_common.h"
#include "framework/backend/cpu/cpu_ops.h"

namespace convlab::backend_cpu {

void gather_batch(const Tensor& images, const Tensor& labels, const Tensor& order, int64_t first,
                  const kernels::AugmentConfig& config, bool augment, uint64_t seed, uint32_t epoch, Tensor& batch,
                  Tensor& labels_out) {
  using kernels::kImageChannels;
  using kernels::kImageSize;
  constexpr int64_t kPixels = kImageChannels * kImageSize * kImageSize;
  const int64_t count = batch.rank() == 4 ? batch.dim(0) : -1;
  CONVLAB_CHECK(images.dtype() == DType::u8 && images.rank() == 4 && images.dim(1) == kImageChannels &&
                    images.dim(2) == kImageSize && images.dim(3) == kImageSize,
                "gather_batch: images {} must be u8 (M, 3, 32, 32)", images.describe());
  CONVLAB_CHECK(labels.dtype() == DType::u8 && labels.numel() == images.dim(0), "gather_batch: labels {}",
                labels.describe());
  CONVLAB_CHECK(order.dtype() == DType::i32 && first >= 0 && first + count <= order.numel() && batch.dtype() == DType::f32 &&
                    batch.shape() == Shape({count, kImageChannels, kImageSize, kImageSize}) &&
                    labels_out.dtype() == DType::i32 && labels_out.numel() == count,
                "gather_batch: order {} from {}, batch {}, labels {}", order.describe(), first, batch.describe(),
                labels_out.describe());
  const int32_t* idx = order.host<int32_t>() + first;
  for (int64_t b = 0; b < count; ++b)
    CONVLAB_CHECK(idx[b] >= 0 && idx[b] < images.dim(0), "gather_batch: index {} outside 0..{}", idx[b],
                  images.dim(0) - 1);
  float* out = batch.host<float>();
  const bool channels_last = batch.channels_last();  // (B, 32, 32, 3) in memory
#pragma omp parallel for
  for (int64_t b = 0; b < count; ++b) {
    const int64_t example = idx[b];
    const uint8_t* image = images.host<uint8_t>() + example * kPixels;
    float* dst = out + b * kPixels;
    const kernels::ExampleTransform t =
        augment ? kernels::draw_transform(config, seed, epoch, static_cast<uint64_t>(example)) : kernels::ExampleTransform{};
    for (int c = 0; c < kImageChannels; ++c)
      for (int y = 0; y < kImageSize; ++y)
        for (int x = 0; x < kImageSize; ++x) {
          const int at = (c * kImageSize + y) * kImageSize + x;  // the source (and a contiguous batch)
          const int to = channels_last ? (y * kImageSize + x) * kImageChannels + c : at;
          dst[to] = augment ? kernels::augmented_pixel(config, t, image, c, y, x)
                            : kernels::normalise_pixel(config, c, image[at]);
        }
    labels_out.host<int32_t>()[b] = labels.host<uint8_t>()[example];
  }
}

}  // namespace convlab::backend_cpu
