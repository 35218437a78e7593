// The decoded data set kept on disk, so that 60,000 images are decoded once, not on every
// run. One file per source fingerprint: cache_dir/cifar10-<fingerprint>.bin.
//
// Layout (little-endian): "CVLBCF10", u32 version, u32 class count, u64 fingerprint,
// u64 train count, u64 test count, then each class name and the source description as
// u32 length + bytes, then train images, train labels, test images, test labels, and last
// a u32 CRC-32 of everything before it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>

#include "framework/data/image_set.h"

namespace convlab {

std::filesystem::path dataset_cache_file(const std::filesystem::path& cache_dir, uint64_t fingerprint);

// The cached data set, or nullopt when `file` does not exist. A file that is truncated,
// corrupt or for another fingerprint is never trusted: it gives a warning on stderr and
// nullopt, and the caller decodes the source again.
std::optional<Cifar10> read_dataset_cache(const std::filesystem::path& file, uint64_t fingerprint);

// Writes atomically (a temporary file renamed into place), so readers never see half a file.
void write_dataset_cache(const std::filesystem::path& file, uint64_t fingerprint, const Cifar10& data);

}  // namespace convlab
