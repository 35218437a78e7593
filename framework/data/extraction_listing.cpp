#include "framework/data/extraction_listing.h"

#include <zlib.h>

#include <charconv>
#include <vector>

#include "framework/core/error.h"
#include "framework/io/file_checksum.h"

namespace convlab {
namespace fs = std::filesystem;

namespace {

constexpr const char* kFirstLine = "convlab extraction listing 1\n";

uint32_t crc_of(const void* data, size_t size, uint32_t crc = 0) {
  return static_cast<uint32_t>(crc32_z(crc, static_cast<const Bytef*>(data), size));
}

ListedEntry file_entry(const fs::path& path) {
  std::error_code error;
  const uint64_t size = fs::file_size(path, error);
  CONVLAB_CHECK(!error, "cannot read {}: {}", path.string(), error.message());
  return ListedEntry{ListedEntry::file, size, file_crc32(path)};
}

// Reads the text written by listing_text; every method returns false on a malformed input.
class ListingParser {
 public:
  explicit ListingParser(const std::string& text) : text_(text) {}

  bool literal(std::string_view expected) {
    if (text_.compare(pos_, expected.size(), expected) != 0) return false;
    pos_ += expected.size();
    return true;
  }
  template <typename T>
  bool number(T& value, int base = 10) {
    const char* begin = text_.data() + pos_;
    const auto [end, ec] = std::from_chars(begin, text_.data() + text_.size(), value, base);
    if (ec != std::errc() || end == begin) return false;
    pos_ += static_cast<size_t>(end - begin);
    return true;
  }
  // A path written as "<length> <bytes>".
  bool path(std::string& value) {
    size_t length = 0;
    if (!number(length) || !literal(" ") || length > text_.size() - pos_) return false;
    value = text_.substr(pos_, length);
    pos_ += length;
    return true;
  }
  size_t position() const { return pos_; }
  bool at_end() const { return pos_ == text_.size(); }

 private:
  const std::string& text_;
  size_t pos_ = 0;
};

std::string describe(const ListedEntry& entry) {
  switch (entry.kind) {
    case ListedEntry::folder:
      return "a folder";
    case ListedEntry::file:
      return fmt::format("{} bytes", entry.size);
    default:
      return "neither a file nor a folder";
  }
}

}  // namespace

ExtractionListing list_extraction(const fs::path& root, const std::string& skip, bool read_files) {
  ExtractionListing listing;
  std::error_code error;
  fs::recursive_directory_iterator it(root, error), end;
  for (; !error && it != end; it.increment(error)) {
    const std::string relative = it->path().lexically_relative(root).generic_string();
    if (!skip.empty() && relative == skip) continue;
    const fs::file_status status = it->symlink_status(error);
    if (error) break;
    if (fs::is_directory(status))
      listing[relative] = {ListedEntry::folder, 0, 0};
    else if (fs::is_regular_file(status) && read_files)
      listing[relative] = file_entry(it->path());
    else if (fs::is_regular_file(status))
      listing[relative] = {ListedEntry::file, static_cast<uint64_t>(it->file_size(error)), 0};
    else
      listing[relative] = {ListedEntry::other, 0, 0};
  }
  CONVLAB_CHECK(!error, "cannot list {}: {}", root.string(), error.message());
  return listing;
}

std::string listing_text(const ExtractionListing& listing, const std::string& archive) {
  // Paths are length-prefixed: an archive's names may hold spaces or line breaks.
  std::string text = kFirstLine;
  text += fmt::format("archive {} {}\n", archive.size(), archive);
  for (const auto& [path, entry] : listing) {
    if (entry.kind == ListedEntry::file)
      text += fmt::format("f {} {:08x} {} {}\n", entry.size, entry.crc32, path.size(), path);
    else
      text += fmt::format("{} {} {}\n", static_cast<char>(entry.kind), path.size(), path);
  }
  text += fmt::format("end {} {:08x}\n", listing.size(), crc_of(text.data(), text.size()));
  return text;
}

std::optional<ExtractionListing> parse_listing_text(const std::string& text) {
  ListingParser in(text);
  std::string archive;
  if (!in.literal(kFirstLine) || !in.literal("archive ") || !in.path(archive) || !in.literal("\n")) return std::nullopt;
  ExtractionListing listing;
  while (true) {
    const size_t line_start = in.position();
    if (in.literal("end ")) {
      size_t count = 0;
      uint32_t stored = 0;
      if (!in.number(count) || !in.literal(" ") || !in.number(stored, 16) || !in.literal("\n") || !in.at_end() ||
          count != listing.size() || stored != crc_of(text.data(), line_start))
        return std::nullopt;
      return listing;
    }
    ListedEntry entry;
    if (in.literal("f ")) {
      if (!in.number(entry.size) || !in.literal(" ") || !in.number(entry.crc32, 16) || !in.literal(" "))
        return std::nullopt;
    } else if (in.literal("d ")) {
      entry.kind = ListedEntry::folder;
    } else if (in.literal("o ")) {
      entry.kind = ListedEntry::other;
    } else {
      return std::nullopt;
    }
    std::string path;
    if (!in.path(path) || !in.literal("\n") || !listing.emplace(std::move(path), entry).second) return std::nullopt;
  }
}

std::optional<std::string> listing_difference(const ExtractionListing& expected, const ExtractionListing& found,
                                              bool compare_contents) {
  std::vector<std::string> differences;
  size_t count = 0;
  const auto note = [&](std::string text) {
    if (++count <= 3) differences.push_back(std::move(text));
  };
  auto e = expected.begin();
  auto f = found.begin();
  while (e != expected.end() || f != found.end()) {
    if (f == found.end() || (e != expected.end() && e->first < f->first)) {
      note(fmt::format("{} is missing", e->first));
      ++e;
    } else if (e == expected.end() || f->first < e->first) {
      note(fmt::format("{} is not in the archive", f->first));
      ++f;
    } else {
      if (e->second.kind != f->second.kind || e->second.size != f->second.size)
        note(fmt::format("{} is {}, the archive's is {}", e->first, describe(f->second), describe(e->second)));
      else if (compare_contents && e->second.crc32 != f->second.crc32)
        note(fmt::format("{} differs from the archive's (CRC-32 {:08x}, expected {:08x})", e->first, f->second.crc32,
                         e->second.crc32));
      ++e;
      ++f;
    }
  }
  if (count == 0) return std::nullopt;
  std::string text;
  for (const std::string& difference : differences) text += (text.empty() ? "" : "; ") + difference;
  if (count > differences.size()) text += fmt::format("; {} differences in all", count);
  return text;
}

}  // namespace convlab
