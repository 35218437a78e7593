#include "framework/data/archive_stream.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "framework/core/error.h"

namespace convlab {

struct ArchiveStream::Inflater {
  z_stream z{};
  bool ready = false;
  ~Inflater() {
    if (ready) inflateEnd(&z);
  }
};

namespace {

constexpr size_t kInputBuffer = 1 << 20;
constexpr uint8_t kGzipMagic[2] = {0x1f, 0x8b};

}  // namespace

ArchiveStream::ArchiveStream(const std::filesystem::path& path) : name_(path.string()) {
  std::error_code error;
  file_size_ = std::filesystem::file_size(path, error);
  CONVLAB_CHECK(!error, "cannot open archive {}: {}", name_, error.message());
  file_ = std::fopen(path.c_str(), "rb");
  CONVLAB_CHECK(file_ != nullptr, "cannot open archive {}: {}", name_, std::strerror(errno));
  // The length field of the last member is the file's last 4 bytes.
  uint8_t tail[4] = {};
  if (file_size_ >= 18 && std::fseek(file_, -4, SEEK_END) == 0 && std::fread(tail, 1, 4, file_) == 4)
    size_hint_ = uint64_t{tail[0]} | uint64_t{tail[1]} << 8 | uint64_t{tail[2]} << 16 | uint64_t{tail[3]} << 24;
  std::rewind(file_);
  start();
}

ArchiveStream::ArchiveStream(const void* data, size_t size, std::string name)
    : name_(std::move(name)), memory_(static_cast<const uint8_t*>(data)), file_size_(size) {
  if (size >= 18) {
    const uint8_t* tail = memory_ + size - 4;
    size_hint_ = uint64_t{tail[0]} | uint64_t{tail[1]} << 8 | uint64_t{tail[2]} << 16 | uint64_t{tail[3]} << 24;
  }
  start();
}

ArchiveStream::~ArchiveStream() {
  if (file_) std::fclose(file_);
}

void ArchiveStream::start() {
  buffer_.resize(kInputBuffer);
  fill();
  compressed_ = buffer_end_ >= 2 && std::memcmp(buffer_.data(), kGzipMagic, 2) == 0;
  if (!compressed_) {
    size_hint_ = file_size_;
    return;
  }
  inflater_ = std::make_unique<Inflater>();
  // 16 + 15: a gzip wrapper (header, CRC-32 and length checked) around a 32 KiB window.
  CONVLAB_CHECK(inflateInit2(&inflater_->z, 16 + 15) == Z_OK, "zlib cannot start on {}", name_);
  inflater_->ready = true;
  inflater_->z.next_in = buffer_.data();
  inflater_->z.avail_in = static_cast<uInt>(buffer_end_);
}

size_t ArchiveStream::fill() {
  size_t got = 0;
  if (memory_) {
    got = static_cast<size_t>(std::min<uint64_t>(kInputBuffer, file_size_ - fed_));
    std::memcpy(buffer_.data(), memory_ + fed_, got);
  } else {
    got = std::fread(buffer_.data(), 1, buffer_.size(), file_);
    CONVLAB_CHECK(got > 0 || !std::ferror(file_), "cannot read archive {} at byte offset {}: {}", name_, fed_,
                  std::strerror(errno));
  }
  fed_ += got;
  buffer_begin_ = 0;
  buffer_end_ = got;
  return got;
}

uint64_t ArchiveStream::consumed() const { return fed_ - (compressed_ ? inflater_->z.avail_in : buffer_end_ - buffer_begin_); }

size_t ArchiveStream::read(void* buffer, size_t size) {
  const size_t got = compressed_ ? read_gzip(buffer, size) : read_plain(buffer, size);
  offset_ += got;
  return got;
}

size_t ArchiveStream::read_plain(void* buffer, size_t size) {
  size_t done = 0;
  while (done < size) {
    if (buffer_begin_ == buffer_end_ && fill() == 0) break;
    const size_t chunk = std::min(size - done, buffer_end_ - buffer_begin_);
    std::memcpy(static_cast<uint8_t*>(buffer) + done, buffer_.data() + buffer_begin_, chunk);
    buffer_begin_ += chunk;
    done += chunk;
  }
  return done;
}

size_t ArchiveStream::read_gzip(void* buffer, size_t size) {
  z_stream& z = inflater_->z;
  size_t done = 0;
  while (done < size && !finished_) {
    if (z.avail_in == 0) {
      if (fill() == 0)
        CONVLAB_FAIL("archive {} is truncated: the gzip data end at compressed byte offset {} (uncompressed byte "
                     "offset {}) before the stream's end and its checksum",
                     name_, consumed(), offset_ + done);
      z.next_in = buffer_.data();
      z.avail_in = static_cast<uInt>(buffer_end_);
    }
    const size_t want = std::min<size_t>(size - done, std::numeric_limits<uInt>::max());
    z.next_out = static_cast<Bytef*>(buffer) + done;
    z.avail_out = static_cast<uInt>(want);
    const int code = inflate(&z, Z_NO_FLUSH);
    done += want - z.avail_out;
    if (code == Z_STREAM_END) {
      after_member();
    } else if (code != Z_OK && code != Z_BUF_ERROR) {
      CONVLAB_FAIL("archive {} is corrupt at compressed byte offset {} (uncompressed byte offset {}): {}", name_,
                   consumed(), offset_ + done, z.msg ? z.msg : zError(code));
    }
  }
  return done;
}

void ArchiveStream::after_member() {
  z_stream& z = inflater_->z;
  // Zeros after the last member are padding (gzip accepts them too); a gzip signature starts
  // another member; anything else is not part of a gzip file.
  while (true) {
    while (z.avail_in > 0 && *z.next_in == 0) {
      ++z.next_in;
      --z.avail_in;
    }
    if (z.avail_in > 0) break;
    if (fill() == 0) {
      finished_ = true;
      return;
    }
    z.next_in = buffer_.data();
    z.avail_in = static_cast<uInt>(buffer_end_);
  }
  if (*z.next_in != kGzipMagic[0])
    CONVLAB_FAIL("archive {}: unexpected bytes after the gzip stream at compressed byte offset {}", name_, consumed());
  CONVLAB_CHECK(inflateReset(&z) == Z_OK, "zlib cannot restart on {}", name_);
}

}  // namespace convlab
