// The in-memory form of an image classification data set: uint8 pixels exactly as stored,
// so one copy serves both backends and augmentation normalises on the fly.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace convlab {

inline constexpr int64_t kCifarImageBytes = 3 * 32 * 32;  // planar R, G, B planes of 32x32

struct ImageSet {
  std::vector<uint8_t> images;  // (N, 3, 32, 32) uint8, planar RGB (the official binary's layout)
  std::vector<uint8_t> labels;  // (N) class index, 0 .. class_names.size() - 1

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  const uint8_t* image(int64_t i) const { return images.data() + i * kCifarImageBytes; }
};

struct Cifar10 {
  ImageSet train, test;
  std::vector<std::string> class_names;  // label i is class_names[i]
  std::string source_description;        // where the pixels came from, for logs and reports
  uint64_t fingerprint = 0;              // of the source and its decoding (the cache key); 0 if unknown
};

}  // namespace convlab
