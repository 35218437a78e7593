// Writing a large .npy array row block by row block, so that no more than one block is ever
// in memory: the header is written up front with the final shape, rows are appended, and
// the file appears under its name only when complete. Until commit() it lives as a hidden
// ".NAME.partial" file in the same folder; an unfinished writer removes it.
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

 private:
  std::filesystem::path path_, partial_;
  std::vector<int64_t> shape_;
  size_t row_bytes_ = 0;
  int64_t rows_written_ = 0;
  std::FILE* file_ = nullptr;
  bool finished_ = false, committed_ = false;
};

}  // namespace convlab
