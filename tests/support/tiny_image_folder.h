// A tiny CIFAR-like image folder for tests that run the real data path (decoding, caching,
// the training loop, the executables) without the CIFAR-10 copy.
#pragma once

#include <filesystem>

namespace convlab::test_support {

// root/train/<class>/NNNN.png and root/test/<class>/NNNN.png: CIFAR-10's 10 class names,
// `train_per_class` and `test_per_class` 32x32 RGB PNGs each, whose class shows in the
// mean red level so that a few steps can learn something. Throws if a file cannot be written.
void write_tiny_image_folder(const std::filesystem::path& root, int train_per_class, int test_per_class);

}  // namespace convlab::test_support
