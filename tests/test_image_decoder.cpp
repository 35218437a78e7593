// Image decoding: JPEG through libjpeg-turbo (told by the bytes, not the name), PNG through
// libpng, clear errors for what CIFAR-10 cannot be, and caches of pixels decoded another
// way never reused. (tests/interop/test_jpeg_matches_pillow.cpp compares with Pillow.)
#include <gtest/gtest.h>
#include <stb_image_write.h>
#include <turbojpeg.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "framework/core/error.h"
#include "framework/data/cifar10.h"
#include "framework/data/dataset_cache.h"
#include "framework/data/fingerprint.h"
#include "framework/data/image_decoder.h"
#include "framework/data/image_folder.h"
#include "kernels/philox.h"
#include "tests/support/error_of.h"

namespace fs = std::filesystem;
using namespace convlab;
using test_support::error_of;

namespace {

// A smooth 32x32 (or other) picture, interleaved, `channels` per pixel.
std::vector<uint8_t> picture(int side, int channels) {
  std::vector<uint8_t> pixels(static_cast<size_t>(side * side * channels));
  for (int y = 0; y < side; ++y)
    for (int x = 0; x < side; ++x)
      for (int c = 0; c < channels; ++c) pixels[(y * side + x) * channels + c] = static_cast<uint8_t>(4 * x + 3 * y + 50 * c);
  return pixels;
}

std::vector<uint8_t> jpeg_of(const std::vector<uint8_t>& pixels, int side, int format, int subsampling) {
  tjhandle handle = tjInitCompress();
  unsigned char* jpeg = nullptr;
  unsigned long size = 0;
  const int rc = tjCompress2(handle, pixels.data(), side, 0, side, format, &jpeg, &size, subsampling, 100, 0);
  std::vector<uint8_t> bytes(jpeg, jpeg + (rc == 0 ? size : 0));
  tjFree(jpeg);
  tjDestroy(handle);
  EXPECT_EQ(rc, 0);
  return bytes;
}

std::vector<uint8_t> png_of(const std::vector<uint8_t>& pixels, int side, int channels) {
  std::vector<uint8_t> bytes;
  stbi_write_png_to_func(
      [](void* context, void* data, int size) {
        auto* out = static_cast<std::vector<uint8_t>*>(context);
        out->insert(out->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
      },
      &bytes, side, side, channels, pixels.data(), side * channels);
  return bytes;
}

}  // namespace

TEST(ImageDecoder, JpegIsToldByItsBytesAndPngGoesThroughLibpng) {
  const std::vector<uint8_t> rgb = picture(32, 3);
  ImageDecoder decoder;
  std::vector<uint8_t> planar(3 * 32 * 32);
  decoder.decode(png_of(rgb, 32, 3), "exact.png", planar.data());
  for (int i = 0; i < 32 * 32; ++i)
    for (int c = 0; c < 3; ++c) ASSERT_EQ(planar[c * 1024 + i], rgb[i * 3 + c]) << i << " " << c;
  // A JPEG named .png is still a JPEG; at quality 100 without subsampling it is close.
  decoder.decode(jpeg_of(rgb, 32, TJPF_RGB, TJSAMP_444), "misnamed.png", planar.data());
  int largest = 0;
  for (int i = 0; i < 32 * 32; ++i)
    for (int c = 0; c < 3; ++c) largest = std::max(largest, std::abs(planar[c * 1024 + i] - rgb[i * 3 + c]));
  EXPECT_LE(largest, 3);
  EXPECT_NE(image_decoder_identity().find("libjpeg-turbo"), std::string::npos) << image_decoder_identity();
}

TEST(ImageDecoder, WhatCifarCannotBeIsRefusedByName) {
  ImageDecoder decoder;
  std::vector<uint8_t> planar(3 * 32 * 32);
  std::string what = error_of([&] {
    decoder.decode(jpeg_of(picture(32, 1), 32, TJPF_GRAY, TJSAMP_GRAY), "gray.jpg", planar.data());
  });
  EXPECT_NE(what.find("gray.jpg is a 32x32 grayscale JPEG; CIFAR-10 images must be 32x32 RGB"), std::string::npos)
      << what;
  what = error_of([&] { decoder.decode(jpeg_of(picture(16, 3), 16, TJPF_RGB, TJSAMP_420), "small.jpg", planar.data()); });
  EXPECT_NE(what.find("small.jpg is a 16x16 YCbCr JPEG"), std::string::npos) << what;
  std::vector<uint8_t> truncated = jpeg_of(picture(32, 3), 32, TJPF_RGB, TJSAMP_420);
  truncated.resize(truncated.size() / 2);
  what = error_of([&] { decoder.decode(truncated, "cut.jpg", planar.data()); });
  EXPECT_NE(what.find("cannot decode JPEG image cut.jpg"), std::string::npos) << what;
  what = error_of([&] { decoder.decode({0xFF, 0xD8, 0xFF, 0x00, 0x01}, "garbage.jpg", planar.data()); });
  EXPECT_NE(what.find("cannot read the JPEG header of image garbage.jpg (5 bytes)"), std::string::npos) << what;
  what = error_of([&] { decoder.decode(png_of(picture(32, 4), 32, 4), "rgba.png", planar.data()); });
  EXPECT_NE(what.find("rgba.png is a 32x32 PNG with 4 channel(s)"), std::string::npos) << what;
}

TEST(ImageDecoder, CachesOfPixelsDecodedBeforeTheDecoderChangedAreNeverRead) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("convlab-decoder-cache-{}", ::getpid());
  fs::remove_all(dir);
  const std::vector<uint8_t> rgb = picture(32, 3);
  const std::vector<uint8_t> jpeg = jpeg_of(rgb, 32, TJPF_RGB, TJSAMP_420);
  for (const char* split : {"train", "test"})
    for (const char* name : {"cat", "dog"}) {
      fs::create_directories(dir / "data" / split / name);
      std::ofstream(dir / "data" / split / name / "0000.jpg", std::ios::binary)
          .write(reinterpret_cast<const char*>(jpeg.data()), static_cast<std::streamsize>(jpeg.size()));
    }
  // The cache an stb_image-era convlab wrote: keyed by the files alone, holding its pixels
  // (here: all 7, so that reading it would show).
  const ImageFolder folder = list_image_folder(dir / "data");
  std::vector<fs::path> files;
  for (const auto* split : {&folder.train, &folder.test})
    for (const LabelledFile& file : *split) files.push_back(file.path);
  const uint64_t old_fingerprint = fingerprint_files(dir / "data", files);
  Cifar10 stale;
  stale.class_names = folder.class_names;
  stale.train.images.assign(2 * kCifarImageBytes, 7);
  stale.train.labels = {0, 1};
  stale.test = stale.train;
  write_dataset_cache(dataset_cache_file(dir / "cache", old_fingerprint), old_fingerprint, stale);

  const Cifar10 loaded = load_cifar10(dir / "data", dir / "cache");
  EXPECT_NE(loaded.fingerprint, old_fingerprint);
  std::vector<uint8_t> expected(kCifarImageBytes);
  ImageDecoder().decode(jpeg, "0000.jpg", expected.data());
  EXPECT_TRUE(std::equal(expected.begin(), expected.end(), loaded.train.image(0)));
  EXPECT_TRUE(fs::exists(dataset_cache_file(dir / "cache", loaded.fingerprint)));
  fs::remove_all(dir);
}

TEST(ImageDecoder, DamagedJpegsGiveErrorsNeverCrashes) {
  const std::vector<uint8_t> good = jpeg_of(picture(32, 3), 32, TJPF_RGB, TJSAMP_420);
  ImageDecoder decoder;
  std::vector<uint8_t> planar(3 * 32 * 32);
  int refused = 0;
  for (uint32_t trial = 0; trial < 2000; ++trial) {
    std::vector<uint8_t> bytes = good;
    // Flip a few bytes past the SOI marker, sometimes cut the file short.
    for (int k = 0; k < 1 + static_cast<int>(trial % 4); ++k) {
      const uint32_t r = kernels::random_u32({trial, 8, 0}, static_cast<uint64_t>(k));
      bytes[3 + r % (bytes.size() - 3)] ^= static_cast<uint8_t>(1 + (r >> 24) % 255);
    }
    if (trial % 5 == 0) bytes.resize(3 + kernels::random_u32({trial, 9, 0}, 0) % (bytes.size() - 3));
    try {
      decoder.decode(bytes, "damaged.jpg", planar.data());
    } catch (const Error&) {
      ++refused;
    }
  }
  EXPECT_GT(refused, 0);
}
