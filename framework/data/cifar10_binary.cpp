#include "framework/data/cifar10_binary.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "framework/core/error.h"

namespace convlab {
namespace fs = std::filesystem;

namespace {

const char* const kBatchNames[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                   "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"};

void read_batch(const fs::path& file, std::vector<uint8_t>& record_bytes, ImageSet& into) {
  const uint64_t size = fs::file_size(file);
  CONVLAB_CHECK(size == static_cast<uint64_t>(kCifarBatchBytes),
                "{} is {} bytes, but a CIFAR-10 batch is {} bytes ({} records of 1 label byte + {} pixel bytes); "
                "the file {} at byte offset {}",
                file.string(), size, kCifarBatchBytes, kCifarBatchRecords, kCifarImageBytes,
                size < static_cast<uint64_t>(kCifarBatchBytes) ? "ends early" : "has extra bytes",
                std::min<uint64_t>(size, kCifarBatchBytes));

  std::FILE* in = std::fopen(file.c_str(), "rb");
  CONVLAB_CHECK(in != nullptr, "cannot open {}: {}", file.string(), std::strerror(errno));
  const size_t got = std::fread(record_bytes.data(), 1, record_bytes.size(), in);
  std::fclose(in);
  CONVLAB_CHECK(got == record_bytes.size(), "{} ends early: read failed at byte offset {}", file.string(), got);

  append_cifar10_records(record_bytes.data(), record_bytes.size(), kCifarBatchRecords, file.string(), into);
}

}  // namespace

void append_cifar10_records(const uint8_t* data, size_t size, int64_t records, const std::string& name,
                            ImageSet& into) {
  CONVLAB_CHECK(records >= 0 && size == static_cast<uint64_t>(records) * kCifarRecordBytes,
                "{} is {} bytes, but {} CIFAR-10 records of 1 label byte + {} pixel bytes are {} bytes", name, size,
                records, kCifarImageBytes, records * kCifarRecordBytes);
  const size_t first = into.labels.size();
  for (int64_t record = 0; record < records; ++record) {
    const uint8_t label = data[record * kCifarRecordBytes];
    CONVLAB_CHECK(label <= 9, "{}: label {} at byte offset {} (record {}) is not a CIFAR-10 class (0..9)", name, label,
                  record * kCifarRecordBytes, record);
  }
  into.labels.resize(first + records);
  into.images.resize((first + records) * kCifarImageBytes);
  for (int64_t record = 0; record < records; ++record) {
    const uint8_t* bytes = data + record * kCifarRecordBytes;
    into.labels[first + record] = bytes[0];
    std::memcpy(into.images.data() + (first + record) * kCifarImageBytes, bytes + 1, kCifarImageBytes);
  }
}

bool is_cifar10_binary_folder(const fs::path& dir) {
  for (const char* name : kBatchNames)
    if (fs::is_regular_file(dir / name)) return true;
  return false;
}

std::vector<fs::path> cifar10_binary_files(const fs::path& dir) {
  std::vector<fs::path> files;
  std::string missing;
  for (const char* name : kBatchNames) {
    files.push_back(dir / name);
    if (!fs::is_regular_file(files.back())) missing += fmt::format(" {}", name);
  }
  CONVLAB_CHECK(missing.empty(), "the CIFAR-10 binary folder {} lacks{}", dir.string(), missing);
  return files;
}

ImageSet read_cifar10_batches(const std::vector<fs::path>& files) {
  ImageSet set;
  set.labels.reserve(files.size() * kCifarBatchRecords);
  set.images.reserve(files.size() * kCifarBatchRecords * kCifarImageBytes);
  std::vector<uint8_t> record_bytes(kCifarBatchBytes);
  for (const fs::path& file : files) read_batch(file, record_bytes, set);
  return set;
}

}  // namespace convlab
