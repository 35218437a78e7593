// CIFAR-10 training augmentation as a pure function of (seed, epoch, example, pixel), so the
// CPU batch assembler and the CUDA kernel produce bit-identical batches. The order is the
// reference's: normalise; random 32x32 crop of the image zero-padded by 4 (zeros in
// normalised space); horizontal flip with p = 0.5; one 16x16 cutout square (centre uniform
// over the 32x32 pixels, clipped at the border) set to 0.
#pragma once

#include <math.h>  // also brings the float overloads into scope on the host
#include <cstdint>

#include "kernels/hd.h"
#include "kernels/philox.h"

namespace convlab::kernels {

inline constexpr int kImageSize = 32;     // CIFAR images are 32x32x3
inline constexpr int kImageChannels = 3;

struct AugmentConfig {
  bool crop = true;
  bool flip = true;
  bool cutout = true;
  int crop_pad = 4;
  int cutout_size = 16;
  // normalised = v * scale[c] + shift[c], with scale = 1 / (255 std), shift = -mean / std,
  // computed once on the host and applied with one fused multiply-add on both devices.
  float scale[3];
  float shift[3];
};

// The reference's normalisation of RGB values in [0, 1] (checkpoints record it).
inline constexpr double kCifar10Mean[3] = {0.4914, 0.4822, 0.4465};
inline constexpr double kCifar10Std[3] = {0.2023, 0.1994, 0.2010};

inline AugmentConfig cifar10_augment_config(bool crop, bool flip, bool cutout) {
  const double (&mean)[3] = kCifar10Mean;
  const double (&stddev)[3] = kCifar10Std;
  AugmentConfig config;
  config.crop = crop;
  config.flip = flip;
  config.cutout = cutout;
  for (int c = 0; c < 3; ++c) {
    config.scale[c] = static_cast<float>(1.0 / (255.0 * stddev[c]));
    config.shift[c] = static_cast<float>(-mean[c] / stddev[c]);
  }
  return config;
}

// What happens to one example in one epoch.
struct ExampleTransform {
  int crop_y = 0, crop_x = 0;      // offsets into the padded image, 0 .. 2 * pad
  bool flip = false;
  int cutout_y = -1000, cutout_x = -1000;  // centre of the cutout square (far away: none)
};

// Four random words per example: crop y, crop x, flip, cutout centre (y and x share one).
CONVLAB_HD ExampleTransform draw_transform(const AugmentConfig& config, uint64_t seed, uint32_t epoch,
                                           uint64_t example) {
  const RandomKey key{seed, random_stream::kAugment, epoch};
  ExampleTransform t;
  const uint32_t crop_range = 2 * config.crop_pad + 1;
  t.crop_y = config.crop ? static_cast<int>(random_below(key, 4 * example + 0, crop_range)) : config.crop_pad;
  t.crop_x = config.crop ? static_cast<int>(random_below(key, 4 * example + 1, crop_range)) : config.crop_pad;
  t.flip = config.flip && (random_u32(key, 4 * example + 2) >> 31);
  if (config.cutout) {
    const uint32_t centre = random_below(key, 4 * example + 3, kImageSize * kImageSize);
    t.cutout_y = static_cast<int>(centre / kImageSize);
    t.cutout_x = static_cast<int>(centre % kImageSize);
  }
  return t;
}

CONVLAB_HD float normalise_pixel(const AugmentConfig& config, int channel, uint8_t value) {
  return fmaf(static_cast<float>(value), config.scale[channel], config.shift[channel]);
}

// Output pixel (c, y, x) of an augmented example. `image` is one example, (3, 32, 32) uint8.
CONVLAB_HD float augmented_pixel(const AugmentConfig& config, const ExampleTransform& t,
                                 const uint8_t* image, int c, int y, int x) {
  const int half = config.cutout_size / 2;
  if (y >= t.cutout_y - half && y < t.cutout_y + half && x >= t.cutout_x - half && x < t.cutout_x + half)
    return 0.0f;
  const int flipped_x = t.flip ? kImageSize - 1 - x : x;
  const int source_y = y + t.crop_y - config.crop_pad;
  const int source_x = flipped_x + t.crop_x - config.crop_pad;
  if (source_y < 0 || source_y >= kImageSize || source_x < 0 || source_x >= kImageSize) return 0.0f;
  return normalise_pixel(config, c, image[(c * kImageSize + source_y) * kImageSize + source_x]);
}

}  // namespace convlab::kernels
