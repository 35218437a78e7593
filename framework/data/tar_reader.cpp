#include "framework/data/tar_reader.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "framework/core/error.h"

namespace convlab {
namespace fs = std::filesystem;

namespace {

constexpr size_t kBlock = 512;

// A gzip (or, transparently, uncompressed) stream that knows its uncompressed offset.
class GzStream {
 public:
  explicit GzStream(const fs::path& path) : path_(path) {
    file_ = gzopen(path.c_str(), "rb");
    CONVLAB_CHECK(file_ != nullptr, "cannot open archive {}: {}", path.string(), std::strerror(errno));
    gzbuffer(file_, 1 << 20);  // big reads: the archive holds tens of thousands of small files
  }
  ~GzStream() { gzclose(file_); }
  GzStream(const GzStream&) = delete;
  GzStream& operator=(const GzStream&) = delete;

  // Reads up to `size` bytes; fewer only at the end of the stream.
  size_t read(void* buffer, size_t size) {
    size_t done = 0;
    while (done < size) {
      const unsigned chunk = static_cast<unsigned>(std::min<size_t>(size - done, 1u << 30));
      const int got = gzread(file_, static_cast<char*>(buffer) + done, chunk);
      if (got < 0) {
        int code = 0;
        const char* message = gzerror(file_, &code);
        CONVLAB_FAIL("archive {} is corrupt near uncompressed byte offset {}: {}", path_.string(), offset_ + done,
                     message);
      }
      if (got == 0) break;
      done += static_cast<size_t>(got);
    }
    offset_ += done;
    return done;
  }

  void read_exact(void* buffer, size_t size, const std::string& what) {
    const uint64_t start = offset_;
    const size_t got = read(buffer, size);
    CONVLAB_CHECK(got == size, "archive {} is truncated: {} needs {} bytes from tar byte offset {}, only {} remain",
                  path_.string(), what, size, start, got);
  }

  void skip(uint64_t size, const std::string& what) {
    std::array<char, 1 << 16> scratch;
    while (size > 0) {
      const size_t chunk = static_cast<size_t>(std::min<uint64_t>(size, scratch.size()));
      read_exact(scratch.data(), chunk, what);
      size -= chunk;
    }
  }

  uint64_t offset() const { return offset_; }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
  gzFile file_ = nullptr;
  uint64_t offset_ = 0;
};

// A NUL-terminated (or full-width) header field as a string.
std::string field(const char* data, size_t width) { return std::string(data, strnlen(data, width)); }

// Numeric header field: octal text, or GNU base-256 when the top bit of the first byte is set.
uint64_t parse_number(const char* data, size_t width, const GzStream& in, uint64_t header_offset) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(data);
  if (bytes[0] & 0x80) {
    uint64_t value = bytes[0] & 0x7f;
    for (size_t i = 1; i < width; ++i) value = (value << 8) | bytes[i];
    return value;
  }
  uint64_t value = 0;
  size_t i = 0;
  while (i < width && (data[i] == ' ' || data[i] == '\0')) ++i;
  for (; i < width && data[i] != ' ' && data[i] != '\0'; ++i) {
    CONVLAB_CHECK(data[i] >= '0' && data[i] <= '7', "archive {}: malformed number in the tar header at byte offset {}",
                  in.path().string(), header_offset);
    value = value * 8 + static_cast<uint64_t>(data[i] - '0');
  }
  return value;
}

bool header_checksum_ok(const std::array<char, kBlock>& header, uint64_t stored) {
  // The checksum is computed with its own field read as spaces; old tars summed signed chars.
  uint64_t unsigned_sum = 0;
  int64_t signed_sum = 0;
  for (size_t i = 0; i < kBlock; ++i) {
    const bool in_field = i >= 148 && i < 156;
    unsigned_sum += in_field ? ' ' : static_cast<uint8_t>(header[i]);
    signed_sum += in_field ? ' ' : static_cast<signed char>(header[i]);
  }
  return stored == unsigned_sum || static_cast<int64_t>(stored) == signed_sum;
}

// The value of the "path" record in a pax extended header, if any. Records are
// "<length> <key>=<value>\n".
std::optional<std::string> pax_path(const std::string& records) {
  size_t pos = 0;
  while (pos < records.size()) {
    const size_t space = records.find(' ', pos);
    if (space == std::string::npos) break;
    const size_t length = std::strtoull(records.c_str() + pos, nullptr, 10);
    if (length == 0 || pos + length > records.size()) break;
    const std::string record = records.substr(space + 1, pos + length - space - 2);  // drops the '\n'
    if (record.rfind("path=", 0) == 0) return record.substr(5);
    pos += length;
  }
  return std::nullopt;
}

// The entry's path below the destination, or nullopt for the archive's root ("./").
std::optional<fs::path> safe_relative_path(const std::string& name, const GzStream& in, uint64_t header_offset) {
  const fs::path path = fs::path(name).lexically_normal();
  CONVLAB_CHECK(!path.is_absolute(), "archive {}: entry '{}' at tar byte offset {} has an absolute path",
                in.path().string(), name, header_offset);
  for (const fs::path& part : path)
    CONVLAB_CHECK(part != "..", "archive {}: entry '{}' at tar byte offset {} points outside the archive",
                  in.path().string(), name, header_offset);
  if (path.empty() || path == ".") return std::nullopt;
  return path;
}

void write_entry(GzStream& in, const fs::path& target, uint64_t size, const std::string& name) {
  fs::create_directories(target.parent_path());
  std::FILE* out = std::fopen(target.c_str(), "wb");
  CONVLAB_CHECK(out != nullptr, "cannot create {} while extracting {}: {}", target.string(), in.path().string(),
                std::strerror(errno));
  std::vector<char> buffer(static_cast<size_t>(std::min<uint64_t>(size, 1 << 20)));
  uint64_t left = size;
  try {
    while (left > 0) {
      const size_t chunk = static_cast<size_t>(std::min<uint64_t>(left, buffer.size()));
      in.read_exact(buffer.data(), chunk, fmt::format("file '{}'", name));
      CONVLAB_CHECK(std::fwrite(buffer.data(), 1, chunk, out) == chunk, "cannot write {}: {}", target.string(),
                    std::strerror(errno));
      left -= chunk;
    }
  } catch (...) {
    std::fclose(out);
    throw;
  }
  CONVLAB_CHECK(std::fclose(out) == 0, "cannot write {}: {}", target.string(), std::strerror(errno));
}

uint64_t padding(uint64_t size) { return (kBlock - size % kBlock) % kBlock; }

}  // namespace

void extract_tar(const fs::path& archive, const fs::path& destination) {
  GzStream in(archive);
  fs::create_directories(destination);
  std::optional<std::string> long_name;  // from a GNU 'L' entry or a pax header, for the next entry
  std::array<char, kBlock> header;
  while (true) {
    const uint64_t header_offset = in.offset();
    const size_t got = in.read(header.data(), kBlock);
    if (got == 0) break;  // end of stream without the two zero blocks: accepted, as tar does
    CONVLAB_CHECK(got == kBlock, "archive {} is truncated: a tar header at byte offset {} has only {} of 512 bytes",
                  archive.string(), header_offset, got);
    if (std::all_of(header.begin(), header.end(), [](char c) { return c == 0; })) break;  // end marker

    const uint64_t stored_checksum = parse_number(header.data() + 148, 8, in, header_offset);
    CONVLAB_CHECK(header_checksum_ok(header, stored_checksum),
                  "archive {}: bad tar header checksum at byte offset {} (not a tar archive, or corrupt)",
                  archive.string(), header_offset);
    const uint64_t size = parse_number(header.data() + 124, 12, in, header_offset);
    const char type = header[156];

    std::string name = field(header.data(), 100);
    if (std::memcmp(header.data() + 257, "ustar", 5) == 0) {
      const std::string prefix = field(header.data() + 345, 155);
      if (!prefix.empty()) name = prefix + "/" + name;
    }
    if (type == 'L' || type == 'x') {
      // Metadata for the next entry: its full name.
      CONVLAB_CHECK(size < (1u << 20), "archive {}: oversized '{}' header at tar byte offset {}", archive.string(),
                    type, header_offset);
      std::string text(static_cast<size_t>(size), '\0');
      in.read_exact(text.data(), text.size(), "a long-name record");
      in.skip(padding(size), "a long-name record");
      if (type == 'L') {
        long_name = text.substr(0, strnlen(text.data(), text.size()));
      } else if (auto path = pax_path(text)) {
        long_name = *path;
      }
      continue;
    }
    if (long_name) name = *std::exchange(long_name, std::nullopt);

    const std::optional<fs::path> relative = safe_relative_path(name, in, header_offset);
    if (type == '0' || type == '\0' || type == '7') {
      CONVLAB_CHECK(relative.has_value(), "archive {}: file entry with an empty name at tar byte offset {}",
                    archive.string(), header_offset);
      write_entry(in, destination / *relative, size, name);
    } else {
      if (type == '5' && relative) fs::create_directories(destination / *relative);
      // Links, devices, pax global headers, ...: their data (if any) is not needed.
      in.skip(size, fmt::format("entry '{}'", name));
    }
    in.skip(padding(size), fmt::format("entry '{}'", name));
  }
}

bool extract_tar_once(const fs::path& archive, const fs::path& destination) {
  if (fs::exists(destination / kExtractionCompleteMarker)) return false;
  fs::create_directories(destination.parent_path());
  const fs::path staging = destination.parent_path() /
                           fmt::format("{}.partial-{}", destination.filename().string(), static_cast<long>(getpid()));
  fs::remove_all(staging);
  try {
    extract_tar(archive, staging);
    std::ofstream(staging / kExtractionCompleteMarker) << archive.string() << "\n";
    CONVLAB_CHECK(fs::exists(staging / kExtractionCompleteMarker), "cannot write the extraction marker in {}",
                  staging.string());
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(staging, ignored);
    throw;
  }
  // An incomplete folder left by an interrupted run is replaced; one completed meanwhile by
  // another process wins, and ours is dropped.
  if (fs::exists(destination) && !fs::exists(destination / kExtractionCompleteMarker)) fs::remove_all(destination);
  std::error_code rename_error;
  fs::rename(staging, destination, rename_error);
  if (rename_error) {
    fs::remove_all(staging);
    CONVLAB_CHECK(fs::exists(destination / kExtractionCompleteMarker), "cannot move the extraction {} to {}: {}",
                  staging.string(), destination.string(), rename_error.message());
  }
  return true;
}

}  // namespace convlab
