// The byte stream of an archive file: gzip-compressed (one or more members) or not
// compressed at all, told apart by the gzip signature. Every gzip member must end with its
// trailer, whose CRC-32 and length zlib checks: a file cut short or corrupted is an error
// that names the compressed and uncompressed byte offsets where it was found.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace convlab {

class ArchiveStream {
 public:
  explicit ArchiveStream(const std::filesystem::path& path);
  // Bytes in memory (they must outlive the stream); `name` stands for the file in messages.
  ArchiveStream(const void* data, size_t size, std::string name);
  ~ArchiveStream();
  ArchiveStream(const ArchiveStream&) = delete;
  ArchiveStream& operator=(const ArchiveStream&) = delete;

  // Reads up to `size` bytes; fewer only at the end of the stream, once every trailer has
  // been checked. Throws convlab::Error on corrupt or truncated data.
  size_t read(void* buffer, size_t size);

  const std::string& name() const { return name_; }
  bool compressed() const { return compressed_; }
  uint64_t offset() const { return offset_; }  // uncompressed bytes read so far
  uint64_t file_size() const { return file_size_; }
  // What the stream probably holds, uncompressed: the last gzip member's length field (the
  // exact length, modulo 4 GiB, of a one-member file), or the file size when uncompressed.
  uint64_t size_hint() const { return size_hint_; }

 private:
  void start();
  size_t fill();  // more input into buffer_; 0 at the end of the file
  size_t read_plain(void* buffer, size_t size);
  size_t read_gzip(void* buffer, size_t size);
  void after_member();  // at a member's end: another member, zero padding, or the end
  uint64_t consumed() const;  // compressed bytes used so far

  std::string name_;
  std::FILE* file_ = nullptr;
  const uint8_t* memory_ = nullptr;
  uint64_t file_size_ = 0;
  uint64_t fed_ = 0;  // input bytes handed to the buffer so far
  std::vector<uint8_t> buffer_;
  size_t buffer_begin_ = 0, buffer_end_ = 0;  // unread input in buffer_ (plain files)
  bool compressed_ = false;
  bool finished_ = false;
  uint64_t offset_ = 0;
  uint64_t size_hint_ = 0;
  struct Inflater;
  std::unique_ptr<Inflater> inflater_;
};

}  // namespace convlab
