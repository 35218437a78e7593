#include "framework/io/npy_stream.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <zlib.h>

#include "framework/io/npy.h"

namespace convlab {

NpyStreamWriter::NpyStreamWriter(std::filesystem::path path, DType dtype, std::vector<int64_t> shape)
    : path_(std::move(path)), shape_(std::move(shape)) {
  CONVLAB_CHECK(!shape_.empty(), "writing {}: a streamed .npy array needs a first dimension of rows", path_.string());
  const std::string header = npy_header(dtype, shape_);  // also checks the shape and the dtype
  int64_t row_elements = 1;
  for (size_t d = 1; d < shape_.size(); ++d) row_elements *= shape_[d];
  row_bytes_ = static_cast<size_t>(row_elements) * dtype_size(dtype);
  std::string hidden = ".";  // built in place: "." + string trips a GCC 12 -Wrestrict false positive
  hidden += path_.filename().string();
  hidden += ".partial";
  partial_ = path_.parent_path() / hidden;
  file_ = std::fopen(partial_.c_str(), "wb");
  CONVLAB_CHECK(file_ != nullptr, "cannot create {}: {}", partial_.string(), std::strerror(errno));
  if (std::fwrite(header.data(), 1, header.size(), file_) != header.size()) {
    const std::string why = std::strerror(errno);
    std::fclose(file_);
    file_ = nullptr;
    std::filesystem::remove(partial_);
    CONVLAB_FAIL("cannot write {}: {}", partial_.string(), why);
  }
  crc32_ = static_cast<uint32_t>(::crc32(0L, reinterpret_cast<const Bytef*>(header.data()),
                                         static_cast<uInt>(header.size())));
  bytes_written_ = header.size();
}

NpyStreamWriter::~NpyStreamWriter() {
  if (file_) std::fclose(file_);
  if (!committed_) {
    std::error_code ignored;
    std::filesystem::remove(partial_, ignored);
  }
}

void NpyStreamWriter::append(const void* data, int64_t rows) {
  CONVLAB_CHECK(file_ != nullptr && !finished_, "writing {}: append after finish", path_.string());
  CONVLAB_CHECK(rows >= 0 && rows_written_ + rows <= shape_[0], "writing {}: {} more rows after {} exceed the {} "
                "promised in the header", path_.string(), rows, rows_written_, shape_[0]);
  const size_t bytes = static_cast<size_t>(rows) * row_bytes_;
  CONVLAB_CHECK(bytes == 0 || std::fwrite(data, 1, bytes, file_) == bytes, "cannot write {} (disk full?): {}",
                partial_.string(), std::strerror(errno));
  // crc32_z takes a size_t length (a block of rows may pass 4 GiB); a null buffer would reset it.
  if (bytes > 0) crc32_ = static_cast<uint32_t>(::crc32_z(crc32_, static_cast<const Bytef*>(data), bytes));
  bytes_written_ += bytes;
  rows_written_ += rows;
}

void NpyStreamWriter::finish() {
  if (finished_) return;
  CONVLAB_CHECK(rows_written_ == shape_[0], "writing {}: {} rows written, the header promises {}", path_.string(),
                rows_written_, shape_[0]);
  const bool flushed = std::fflush(file_) == 0 && ::fsync(::fileno(file_)) == 0;
  const std::string why = std::strerror(errno);
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  CONVLAB_CHECK(flushed && closed, "cannot write {} (disk full?): {}", partial_.string(), why);
  finished_ = true;
}

void NpyStreamWriter::commit() {
  finish();
  std::error_code error;
  std::filesystem::rename(partial_, path_, error);
  CONVLAB_CHECK(!error, "cannot rename {} to {}: {}", partial_.string(), path_.string(), error.message());
  committed_ = true;
}

}  // namespace convlab
