// The CIFAR-10 training augmentation: the random transforms are uniform where they should
// be, reproducible from (seed, epoch, example), and the pixels they produce match a plain
// pad-crop-flip-cutout written out longhand.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/augment.h"

namespace convlab::kernels {
namespace {

constexpr int64_t kExamples = 200000;
constexpr uint64_t kSeed = 1234;

// Pearson's chi-square statistic of `counts` against the uniform distribution.
double chi_square_uniform(const std::vector<int64_t>& counts) {
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  const double expected = static_cast<double>(total) / static_cast<double>(counts.size());
  double chi2 = 0;
  for (int64_t c : counts) chi2 += (c - expected) * (c - expected) / expected;
  return chi2;
}

// A test image with no structure the transforms could hide behind.
std::vector<uint8_t> test_image(uint32_t seed) {
  std::vector<uint8_t> image(kImageChannels * kImageSize * kImageSize);
  uint32_t state = seed;
  for (uint8_t& v : image) {
    state = state * 1664525u + 1013904223u;
    v = static_cast<uint8_t>(state >> 24);
  }
  return image;
}

uint8_t at(const std::vector<uint8_t>& image, int c, int y, int x) {
  return image[(c * kImageSize + y) * kImageSize + x];
}

ExampleTransform plain_transform(const AugmentConfig& config) {
  ExampleTransform t;
  t.crop_y = t.crop_x = config.crop_pad;
  return t;
}

// Thresholds are far in the tail (p < 1e-5 for the degrees of freedom used), so a correct
// generator passes for any seed while a biased one (e.g. modulo bias or a stuck bit) fails.
TEST(Augment, CropOffsetsAreUniformOverZeroToEight) {
  const AugmentConfig config = cifar10_augment_config(true, true, true);
  std::vector<int64_t> ys(9), xs(9), joint(81);
  for (int64_t e = 0; e < kExamples; ++e) {
    const ExampleTransform t = draw_transform(config, kSeed, 0, static_cast<uint64_t>(e));
    ASSERT_GE(t.crop_y, 0);
    ASSERT_LE(t.crop_y, 8);
    ASSERT_GE(t.crop_x, 0);
    ASSERT_LE(t.crop_x, 8);
    ++ys[t.crop_y];
    ++xs[t.crop_x];
    ++joint[t.crop_y * 9 + t.crop_x];
  }
  EXPECT_LT(chi_square_uniform(ys), 40.0);  // 8 degrees of freedom
  EXPECT_LT(chi_square_uniform(xs), 40.0);
  EXPECT_LT(chi_square_uniform(joint), 150.0);  // 80: y and x are independent
}

TEST(Augment, CutoutCentresAreUniformOverTheImage) {
  const AugmentConfig config = cifar10_augment_config(true, true, true);
  std::vector<int64_t> ys(32), xs(32);
  for (int64_t e = 0; e < kExamples; ++e) {
    const ExampleTransform t = draw_transform(config, kSeed, 1, static_cast<uint64_t>(e));
    ASSERT_GE(t.cutout_y, 0);
    ASSERT_LT(t.cutout_y, 32);
    ASSERT_GE(t.cutout_x, 0);
    ASSERT_LT(t.cutout_x, 32);
    ++ys[t.cutout_y];
    ++xs[t.cutout_x];
  }
  EXPECT_LT(chi_square_uniform(ys), 85.0);  // 31 degrees of freedom
  EXPECT_LT(chi_square_uniform(xs), 85.0);
}

TEST(Augment, FlipProbabilityIsOneHalf) {
  const AugmentConfig config = cifar10_augment_config(true, true, true);
  int64_t flips = 0;
  for (int64_t e = 0; e < kExamples; ++e) flips += draw_transform(config, kSeed, 2, static_cast<uint64_t>(e)).flip;
  EXPECT_NEAR(static_cast<double>(flips) / kExamples, 0.5, 0.01);  // sd is 0.0011
}

TEST(Augment, DisabledStepsLeaveTheImageAlone) {
  const AugmentConfig config = cifar10_augment_config(false, false, false);
  const std::vector<uint8_t> image = test_image(3);
  for (uint64_t e = 0; e < 100; ++e) {
    const ExampleTransform t = draw_transform(config, kSeed, 0, e);
    EXPECT_EQ(t.crop_y, config.crop_pad);
    EXPECT_EQ(t.crop_x, config.crop_pad);
    EXPECT_FALSE(t.flip);
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x)
          ASSERT_EQ(augmented_pixel(config, t, image.data(), c, y, x), normalise_pixel(config, c, at(image, c, y, x)));
  }
}

TEST(Augment, FlipWithoutCropMirrorsExactly) {
  const AugmentConfig config = cifar10_augment_config(true, true, true);
  const std::vector<uint8_t> image = test_image(4);
  ExampleTransform t = plain_transform(config);
  t.flip = true;
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x)
        ASSERT_EQ(augmented_pixel(config, t, image.data(), c, y, x),
                  normalise_pixel(config, c, at(image, c, y, 31 - x)))
            << c << " " << y << " " << x;
}

TEST(Augment, CropShiftsAndPadsWithZeros) {
  const AugmentConfig config = cifar10_augment_config(true, true, true);
  const std::vector<uint8_t> image = test_image(5);
  ExampleTransform t = plain_transform(config);
  t.crop_y = 0;  // the window starts 4 rows above the image: output row y is image row y - 4
  t.crop_x = 8;  // and 4 columns right of it: output column x is image column x + 4
  int zeros = 0;
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x) {
        const float got = augmented_pixel(config, t, image.data(), c, y, x);
        const int sy = y - 4, sx = x + 4;
        if (sy < 0 || sx >= 32) {
          ASSERT_EQ(got, 0.0f) << c << " " << y << " " << x;
          ++zeros;
        } else {
          ASSERT_EQ(got, normalise_pixel(config, c, at(image, c, sy, sx))) << c << " " << y << " " << x;
        }
      }
  EXPECT_EQ(zeros, 3 * (4 * 32 + 28 * 4));
}

TEST(Augment, CutoutZeroesItsSquareClippedAtTheBorder) {
  const AugmentConfig config = cifar10_augment_config(true, true, true);
  const std::vector<uint8_t> image = test_image(6);
  struct Case {
    int cy, cx, zeros_per_channel;
  };
  // A 16x16 square covers [c - 8, c + 8) in each direction.
  for (const Case& k : {Case{16, 16, 16 * 16}, Case{1, 30, 9 * 10}, Case{0, 0, 8 * 8}, Case{31, 5, 9 * 13}}) {
    ExampleTransform t = plain_transform(config);
    t.cutout_y = k.cy;
    t.cutout_x = k.cx;
    for (int c = 0; c < 3; ++c) {
      int zeros = 0;
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) {
          const float got = augmented_pixel(config, t, image.data(), c, y, x);
          const bool inside = y >= k.cy - 8 && y < k.cy + 8 && x >= k.cx - 8 && x < k.cx + 8;
          if (inside) {
            ASSERT_EQ(got, 0.0f);
            ++zeros;
          } else {
            ASSERT_EQ(got, normalise_pixel(config, c, at(image, c, y, x)));
          }
        }
      EXPECT_EQ(zeros, k.zeros_per_channel) << "centre " << k.cy << "," << k.cx;
    }
  }
}

// Pad by 4 with (normalised) zeros, crop 32x32 at the offsets, mirror, cut out: step by step.
TEST(Augment, DrawnTransformsMatchPadCropFlipCutoutLonghand) {
  const AugmentConfig config = cifar10_augment_config(true, true, true);
  const std::vector<uint8_t> image = test_image(7);
  constexpr int kPadded = 32 + 8;
  for (uint64_t e = 0; e < 300; ++e) {
    const ExampleTransform t = draw_transform(config, kSeed, 9, e);
    for (int c = 0; c < 3; ++c) {
      std::vector<float> padded(kPadded * kPadded, 0.0f);
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) padded[(y + 4) * kPadded + x + 4] = normalise_pixel(config, c, at(image, c, y, x));
      std::vector<float> out(32 * 32);
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) out[y * 32 + x] = padded[(y + t.crop_y) * kPadded + x + t.crop_x];
      if (t.flip)
        for (int y = 0; y < 32; ++y)
          for (int x = 0; x < 16; ++x) std::swap(out[y * 32 + x], out[y * 32 + 31 - x]);
      for (int y = std::max(0, t.cutout_y - 8); y < std::min(32, t.cutout_y + 8); ++y)
        for (int x = std::max(0, t.cutout_x - 8); x < std::min(32, t.cutout_x + 8); ++x) out[y * 32 + x] = 0.0f;
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x)
          ASSERT_EQ(augmented_pixel(config, t, image.data(), c, y, x), out[y * 32 + x])
              << "example " << e << " at " << c << "," << y << "," << x;
    }
  }
}

bool same(const ExampleTransform& a, const ExampleTransform& b) {
  return a.crop_y == b.crop_y && a.crop_x == b.crop_x && a.flip == b.flip && a.cutout_y == b.cutout_y &&
         a.cutout_x == b.cutout_x;
}

TEST(Augment, TransformIsAFunctionOfSeedEpochAndExample) {
  const AugmentConfig config = cifar10_augment_config(true, true, true);
  int other_epoch_differs = 0, other_seed_differs = 0, other_example_differs = 0;
  for (uint64_t e = 0; e < 1000; ++e) {
    const ExampleTransform t = draw_transform(config, kSeed, 5, e);
    EXPECT_TRUE(same(t, draw_transform(config, kSeed, 5, e)));
    other_epoch_differs += !same(t, draw_transform(config, kSeed, 6, e));
    other_seed_differs += !same(t, draw_transform(config, kSeed + 1, 5, e));
    other_example_differs += !same(t, draw_transform(config, kSeed, 5, e + 1));
  }
  // Two independent draws agree with probability 1/81 * 1/2 * 1/1024: essentially never.
  EXPECT_GE(other_epoch_differs, 995);
  EXPECT_GE(other_seed_differs, 995);
  EXPECT_GE(other_example_differs, 995);
}

TEST(Augment, NormalisationMatchesTheReference) {
  const AugmentConfig config = cifar10_augment_config(true, true, true);
  const double mean[3] = {0.4914, 0.4822, 0.4465};
  const double stddev[3] = {0.2023, 0.1994, 0.2010};
  for (int c = 0; c < 3; ++c)
    for (int v = 0; v < 256; ++v)
      ASSERT_NEAR(normalise_pixel(config, c, static_cast<uint8_t>(v)), (v / 255.0 - mean[c]) / stddev[c], 1e-5)
          << "channel " << c << " value " << v;
}

}  // namespace
}  // namespace convlab::kernels
