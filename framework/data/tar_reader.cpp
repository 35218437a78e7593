#include "framework/data/tar_reader.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "framework/core/error.h"
#include "framework/data/archive_stream.h"
#include "framework/data/extraction_listing.h"
#include "framework/io/atomic_file.h"
#include "framework/io/orphans.h"

namespace convlab {
namespace fs = std::filesystem;

namespace {

constexpr size_t kBlock = 512;

// The archive's bytes with the reads a tar reader needs, offsets in messages, and the cap
// on how much it may hold.
class TarInput {
 public:
  TarInput(ArchiveStream& stream, const ExtractLimits& limits) : stream_(stream), limits_(limits) {}

  size_t read(void* buffer, size_t size) {
    CONVLAB_CHECK(stream_.offset() + size <= limits_.max_bytes + kBlock,
                  "archive {} holds more than {} MB uncompressed, the extraction limit (CIFAR-10 is under 200 MB): "
                  "not a data set archive, or a decompression bomb",
                  stream_.name(), limits_.max_bytes >> 20);
    return stream_.read(buffer, size);
  }

  void read_exact(void* buffer, size_t size, const std::string& what) {
    const uint64_t start = stream_.offset();
    const size_t got = read(buffer, size);
    CONVLAB_CHECK(got == size, "archive {} is truncated: {} needs {} bytes from tar byte offset {}, only {} remain",
                  stream_.name(), what, size, start, got);
  }

  void skip(uint64_t size, const std::string& what) {
    std::array<char, 1 << 16> scratch;
    while (size > 0) {
      const size_t chunk = static_cast<size_t>(std::min<uint64_t>(size, scratch.size()));
      read_exact(scratch.data(), chunk, what);
      size -= chunk;
    }
  }

  // Refuses an entry of `size` bytes before anything of it is written.
  void check_entry_fits(uint64_t size, const std::string& name) const {
    CONVLAB_CHECK(size <= limits_.max_bytes && stream_.offset() + size <= limits_.max_bytes,
                  "archive {}: entry '{}' ({} bytes) would take the extraction past its limit of {} MB (CIFAR-10 is "
                  "under 200 MB): not a data set archive, or a decompression bomb",
                  stream_.name(), name, size, limits_.max_bytes >> 20);
  }

  uint64_t offset() const { return stream_.offset(); }
  const std::string& name() const { return stream_.name(); }
  const ExtractLimits& limits() const { return limits_; }

 private:
  ArchiveStream& stream_;
  const ExtractLimits& limits_;
};

// Fails before extracting when the destination's file system cannot hold what the archive
// probably holds.
void check_free_space(const ArchiveStream& stream, const fs::path& destination, const ExtractLimits& limits) {
  std::error_code error;
  fs::path existing = destination;
  while (!existing.empty() && !fs::exists(existing, error)) existing = existing.parent_path();
  if (existing.empty()) existing = fs::current_path();
  const fs::space_info space = fs::space(existing, error);
  if (error) return;  // no answer: the writes themselves will report a full disk
  const uint64_t expected = std::min<uint64_t>(std::max(stream.size_hint(), stream.file_size()), limits.max_bytes);
  const uint64_t margin = limits.free_space_margin;
  CONVLAB_CHECK(space.available >= expected && space.available - expected >= margin,
                "cannot extract {} into {}: it holds about {} MB, but only {} MB are free there; free some space or "
                "set another cache folder (--cache-dir, $CONVLAB_CACHE_DIR)",
                stream.name(), existing.string(), expected >> 20, space.available >> 20);
}

// An entry name in a message: a name of a pax record can be long.
std::string shown(const std::string& name) { return name.size() <= 200 ? name : name.substr(0, 200) + "..."; }

// A NUL-terminated (or full-width) header field as a string.
std::string field(const char* data, size_t width) { return std::string(data, strnlen(data, width)); }

// Numeric header field: octal text, or GNU base-256 when the top bit of the first byte is set.
uint64_t parse_number(const char* data, size_t width, const TarInput& in, uint64_t header_offset) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(data);
  if (bytes[0] & 0x80) {
    uint64_t value = bytes[0] & 0x7f;
    for (size_t i = 1; i < width; ++i) {
      CONVLAB_CHECK(value >> 56 == 0, "archive {}: number out of range in the tar header at byte offset {}",
                    in.name(), header_offset);
      value = (value << 8) | bytes[i];
    }
    return value;
  }
  uint64_t value = 0;
  size_t i = 0;
  while (i < width && (data[i] == ' ' || data[i] == '\0')) ++i;
  for (; i < width && data[i] != ' ' && data[i] != '\0'; ++i) {
    CONVLAB_CHECK(data[i] >= '0' && data[i] <= '7', "archive {}: malformed number in the tar header at byte offset {}",
                  in.name(), header_offset);
    CONVLAB_CHECK(value >> 60 == 0, "archive {}: number out of range in the tar header at byte offset {}", in.name(),
                  header_offset);
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
std::optional<std::string> pax_path(const std::string& records, const TarInput& in, uint64_t header_offset) {
  size_t pos = 0;
  while (pos < records.size()) {
    // The length counts the whole record: its digits, the space, key=value and the '\n'.
    const size_t space = records.find(' ', pos);
    size_t length = 0;
    const char* digits_end = records.data() + (space == std::string::npos ? pos : space);
    const auto [end, ec] = std::from_chars(records.data() + pos, digits_end, length);
    if (space == std::string::npos || ec != std::errc() || end != digits_end || length <= space - pos + 1 ||
        length > records.size() - pos || records[pos + length - 1] != '\n')
      CONVLAB_FAIL("archive {}: malformed pax record at byte {} of the extended header at tar byte offset {}",
                   in.name(), pos, header_offset);
    const std::string record = records.substr(space + 1, pos + length - 1 - (space + 1));
    if (record.rfind("path=", 0) == 0) return record.substr(5);
    pos += length;
  }
  return std::nullopt;
}

// The entry's path below the destination, or nullopt for the archive's root ("./").
std::optional<fs::path> safe_relative_path(const std::string& name, const TarInput& in, uint64_t header_offset) {
  const fs::path path = fs::path(name).lexically_normal();
  CONVLAB_CHECK(!path.is_absolute(), "archive {}: entry '{}' at tar byte offset {} has an absolute path", in.name(),
                shown(name), header_offset);
  for (const fs::path& part : path)
    CONVLAB_CHECK(part != "..", "archive {}: entry '{}' at tar byte offset {} points outside the archive", in.name(),
                  shown(name), header_offset);
  if (path.empty() || path == ".") return std::nullopt;
  return path;
}

void write_entry(TarInput& in, const fs::path& target, uint64_t size, const std::string& name) {
  in.check_entry_fits(size, name);
  std::error_code error;
  fs::create_directories(target.parent_path(), error);
  CONVLAB_CHECK(!error, "cannot create {} while extracting {}: {}", target.parent_path().string(), in.name(),
                error.message());
  std::FILE* out = std::fopen(target.c_str(), "wb");
  CONVLAB_CHECK(out != nullptr, "cannot create {} while extracting {}: {}", target.string(), in.name(),
                std::strerror(errno));
  std::vector<char> buffer(static_cast<size_t>(std::min<uint64_t>(size, 1 << 20)));
  uint64_t left = size;
  try {
    while (left > 0) {
      const size_t chunk = static_cast<size_t>(std::min<uint64_t>(left, buffer.size()));
      in.read_exact(buffer.data(), chunk, fmt::format("file '{}'", shown(name)));
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

namespace {

void extract_tar(ArchiveStream& stream, const fs::path& destination, const ExtractLimits& limits) {
  check_free_space(stream, destination, limits);
  TarInput in(stream, limits);
  const std::string& archive = stream.name();
  fs::create_directories(destination);
  std::optional<std::string> long_name;  // from a GNU 'L' entry or a pax header, for the next entry
  std::array<char, kBlock> header;
  uint64_t entries = 0;
  while (true) {
    const uint64_t header_offset = in.offset();
    const size_t got = in.read(header.data(), kBlock);
    CONVLAB_CHECK(got > 0, "archive {} is truncated: it ends at tar byte offset {} without the end-of-archive blocks "
                  "(two blocks of zeros); some of its files are missing",
                  archive, header_offset);
    CONVLAB_CHECK(got == kBlock, "archive {} is truncated: a tar header at byte offset {} has only {} of 512 bytes",
                  archive, header_offset, got);
    if (std::all_of(header.begin(), header.end(), [](char c) { return c == 0; })) {
      // The end: a second zero block, then (record padding) nothing that matters; reading to
      // the end of the stream checks the gzip trailer.
      const size_t second = in.read(header.data(), kBlock);
      CONVLAB_CHECK(second == kBlock && std::all_of(header.begin(), header.end(), [](char c) { return c == 0; }),
                    "archive {}: the end-of-archive marker at tar byte offset {} is one zero block, not two "
                    "(truncated or corrupt)",
                    archive, header_offset);
      while (in.read(header.data(), kBlock) > 0) {
      }
      break;
    }
    CONVLAB_CHECK(++entries <= limits.max_entries, "archive {} has more than {} entries, the extraction limit", archive,
                  limits.max_entries);

    const uint64_t stored_checksum = parse_number(header.data() + 148, 8, in, header_offset);
    CONVLAB_CHECK(header_checksum_ok(header, stored_checksum),
                  "archive {}: bad tar header checksum at byte offset {} (not a tar archive, or corrupt)", archive,
                  header_offset);
    const uint64_t size = parse_number(header.data() + 124, 12, in, header_offset);
    const char type = header[156];

    std::string name = field(header.data(), 100);
    if (std::memcmp(header.data() + 257, "ustar", 5) == 0) {
      const std::string prefix = field(header.data() + 345, 155);
      if (!prefix.empty()) name = prefix + "/" + name;
    }
    if (type == 'L' || type == 'x') {
      // Metadata for the next entry: its full name.
      CONVLAB_CHECK(size < (1u << 20), "archive {}: oversized '{}' header at tar byte offset {}", archive, type,
                    header_offset);
      std::string text(static_cast<size_t>(size), '\0');
      in.read_exact(text.data(), text.size(), "a long-name record");
      in.skip(padding(size), "a long-name record");
      if (type == 'L') {
        long_name = text.substr(0, strnlen(text.data(), text.size()));
      } else if (auto path = pax_path(text, in, header_offset)) {
        long_name = *path;
      }
      continue;
    }
    if (long_name) name = *std::exchange(long_name, std::nullopt);

    const std::optional<fs::path> relative = safe_relative_path(name, in, header_offset);
    if (type == '0' || type == '\0' || type == '7') {
      CONVLAB_CHECK(relative.has_value(), "archive {}: file entry with an empty name at tar byte offset {}", archive,
                    header_offset);
      write_entry(in, destination / *relative, size, name);
    } else {
      if (type == '5' && relative) {
        std::error_code error;
        fs::create_directories(destination / *relative, error);
        CONVLAB_CHECK(!error, "archive {}: cannot create the folder of entry '{}' at tar byte offset {}: {}", archive,
                      shown(name), header_offset, error.message());
      }
      // Links, devices, pax global headers, ...: their data (if any) is not needed.
      in.skip(size, fmt::format("entry '{}'", shown(name)));
    }
    in.skip(padding(size), fmt::format("entry '{}'", shown(name)));
  }
}

}  // namespace

void extract_tar(const fs::path& archive, const fs::path& destination, const ExtractLimits& limits) {
  ArchiveStream stream(archive);
  extract_tar(stream, destination, limits);
}

void extract_tar_bytes(const void* data, size_t size, const std::string& name, const fs::path& destination,
                       const ExtractLimits& limits) {
  ArchiveStream stream(data, size, name);
  extract_tar(stream, destination, limits);
}

std::optional<std::string> extraction_damage(const fs::path& destination, bool read_files) {
  const fs::path marker = destination / kExtractionCompleteMarker;
  std::error_code error;
  if (!fs::is_regular_file(marker, error)) return "it is incomplete (no completion marker)";
  std::ifstream in(marker, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad() || !in.is_open()) return fmt::format("its marker {} cannot be read", marker.string());
  const std::optional<ExtractionListing> listed = parse_listing_text(text);
  if (!listed) return "its marker holds no readable listing of its files (written by an older convlab, or damaged)";
  try {
    return listing_difference(*listed, list_extraction(destination, kExtractionCompleteMarker, read_files),
                              read_files);
  } catch (const Error& failure) {
    return std::string(failure.what());
  }
}

bool extract_tar_once(const fs::path& archive, const fs::path& destination, const ExtractLimits& limits) {
  // What is reused is checked against the listing first: the decoded set is cached under the
  // archive's fingerprint, so it must be what the archive holds, not what is left of it.
  bool damaged = false;
  if (fs::exists(destination / kExtractionCompleteMarker)) {
    const std::optional<std::string> damage = extraction_damage(destination);
    if (!damage) return false;
    fmt::print(stderr, "convlab: warning: the extraction {} no longer matches {}: {}; extracting it again\n",
               destination.string(), archive.string(), *damage);
    damaged = true;
  }
  fs::create_directories(destination.parent_path());
  const fs::path staging =
      destination.parent_path() / fmt::format("{}.partial-{}", destination.filename().string(), writer_tag());
  fs::remove_all(staging);
  try {
    extract_tar(archive, staging, limits);
    const std::string listing = listing_text(list_extraction(staging), archive.string());
    write_file_atomically(staging / kExtractionCompleteMarker, [&](std::ostream& out) { out << listing; });
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(staging, ignored);
    throw;
  }
  // A damaged or incomplete folder is replaced; one completed meanwhile by another process
  // wins, and ours is dropped. The old folder is renamed aside before it is removed, so no
  // reader ever sees it half removed; its name marks it as a leftover should this run die.
  if (fs::exists(destination) && (damaged || !fs::exists(destination / kExtractionCompleteMarker))) {
    const fs::path aside =
        destination.parent_path() / fmt::format("{}.partial-{}", destination.filename().string(), writer_tag("old"));
    std::error_code error;
    fs::rename(destination, aside, error);
    if (error) {
      std::error_code ignored;
      fs::remove_all(staging, ignored);
      CONVLAB_FAIL("cannot replace the extraction {} of {}: {}; remove that folder", destination.string(),
                   archive.string(), error.message());
    }
    fs::remove_all(aside, error);
  }
  std::error_code rename_error;
  fs::rename(staging, destination, rename_error);
  if (rename_error) {
    fs::remove_all(staging);
    // Another process got there first; its extraction is used only if it checks out too.
    if (const std::optional<std::string> damage = extraction_damage(destination))
      CONVLAB_FAIL("cannot move the extraction {} to {} ({}), and what is there cannot be used: {}; remove that folder",
                   staging.string(), destination.string(), rename_error.message(), *damage);
  }
  return true;
}

}  // namespace convlab
