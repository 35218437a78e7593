// The official CIFAR-10 binary release (cifar-10-batches-bin/): data_batch_1..5.bin for
// training and test_batch.bin, each 10,000 records of 1 label byte + 3,072 pixel bytes
// (the R, G and B planes of 32x32, row-major).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "framework/data/image_set.h"

namespace convlab {

inline constexpr int64_t kCifarBatchRecords = 10000;
inline constexpr int64_t kCifarRecordBytes = 1 + kCifarImageBytes;
inline constexpr int64_t kCifarBatchBytes = kCifarBatchRecords * kCifarRecordBytes;  // 30,730,000

// Whether `dir` looks like the binary release (any of its batch files is there).
bool is_cifar10_binary_folder(const std::filesystem::path& dir);

// The five training batches, then the test batch; throws naming the missing ones.
std::vector<std::filesystem::path> cifar10_binary_files(const std::filesystem::path& dir);

// Reads batch files into one set, in order. Throws naming the file and byte offset when a
// file has the wrong size or a label outside 0..9.
ImageSet read_cifar10_batches(const std::vector<std::filesystem::path>& files);

// Appends `records` records held in `data` (exactly records x 3,073 bytes) to `into`; the
// labels are checked first, so a bad one leaves `into` unchanged. Errors name `name`.
void append_cifar10_records(const uint8_t* data, size_t size, int64_t records, const std::string& name,
                            ImageSet& into);

}  // namespace convlab
