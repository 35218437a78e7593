// Synthetic CIFAR-sized data for tests: uint8 pixels and labels drawn from Philox, the same on
// every machine for the same key.
#pragma once

#include <cstdint>

#include "framework/data/image_set.h"

namespace convlab::test_support {

// `count` images of 3x32x32 random bytes (stream `key`), labelled i % 10.
ImageSet random_image_set(int64_t count, uint64_t key);

}  // namespace convlab::test_support
