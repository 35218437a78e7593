// What a completed archive extraction holds, recorded when it completes and checked when it
// is used again: every folder and file below it, each file with its size and CRC-32. Cached
// data sets are keyed by the archive, so a file deleted, cut short, changed or added in the
// extraction would otherwise be decoded (and cached) as if the archive held it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace convlab {

struct ListedEntry {
  enum Kind : char { folder = 'd', file = 'f', other = 'o' };  // other: a link, a device, ...
  Kind kind = file;
  uint64_t size = 0;   // files only
  uint32_t crc32 = 0;  // files only

  bool operator==(const ListedEntry&) const = default;
};

// Relative path (generic form, '/'-separated) -> entry.
using ExtractionListing = std::map<std::string, ListedEntry>;

// Everything below `root`, read from disk, except the file `root / skip` when given. Links are
// not followed. With `read_files`, each file is read in full for its CRC-32; without, only its
// size is taken (CRC-32 0). Throws naming what cannot be read.
ExtractionListing list_extraction(const std::filesystem::path& root, const std::string& skip = {},
                                  bool read_files = true);

// The listing as text, checksummed, with the archive's path for people who read it.
std::string listing_text(const ExtractionListing& listing, const std::string& archive);

// The listing in `text`, or nullopt when the text is not one (damaged, or no listing at all).
std::optional<ExtractionListing> parse_listing_text(const std::string& text);

// What differs between `expected` and `found`, e.g. "train/cat/0001.jpg is missing", the
// first few and how many in all; nullopt when they are the same. Without `compare_contents`,
// CRC-32s are not compared (for a `found` listed without reading the files).
std::optional<std::string> listing_difference(const ExtractionListing& expected, const ExtractionListing& found,
                                              bool compare_contents = true);

}  // namespace convlab
