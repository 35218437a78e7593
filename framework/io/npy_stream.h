// Writing a large .npy array row block by row block, so that no more than one block is ever
// in memory: the header is written up front with the final shape, rows are appended, and
// the file appears under its name only when complete. Until commit() it lives as a hidden
// ".NAME.partial" file in the same folder; an unfinished writer removes it. The CRC-32 of
// everything written (header and rows) is kept on the way, for manifests that let a reader
// check the file without a second writer-side read.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "framework/core/tensor.h"

namespace convlab {

class NpyStreamWriter {
 public:
  // shape[0] is the number of rows that will be appended; each row is the product of the
  // other dimensions in elements of dtype.
  NpyStreamWriter(std::filesystem::path path, DType dtype, std::vector<int64_t> shape);
  ~NpyStreamWriter();
  NpyStreamWriter(const NpyStreamWriter&) = delete;
  NpyStreamWriter& operator=(const NpyStreamWriter&) = delete;

  // Appends `rows` rows (rows x row size elements of dtype, C order).
  void append(const void* data, int64_t rows);
  // Checks that every row was written, flushes the file to disk and closes it.
  void finish();
  // Renames the finished file to its path (replacing an older one).
  void commit();

  const std::filesystem::path& path() const { return path_; }
  int64_t rows_written() const { return rows_written_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  // The file's size and zlib's CRC-32 of its bytes (header included) so far: once finished,
  // those of the whole file, as Python's zlib.crc32(open(path, "rb").read()) gives.
  uint64_t bytes_written() const { return bytes_written_; }
  uint32_t crc32() const { return crc32_; }

 private:
  std::filesystem::path path_, partial_;
  std::vector<int64_t> shape_;
  size_t row_bytes_ = 0;
  int64_t rows_written_ = 0;
  uint64_t bytes_written_ = 0;
  uint32_t crc32_ = 0;
  std::FILE* file_ = nullptr;
  bool finished_ = false, committed_ = false;
};

}  // namespace convlab
