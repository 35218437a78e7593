// Extraction of tar archives (gzip-compressed or plain, see archive_stream.h): ustar headers in
// 512-byte blocks, regular files and directories, GNU long names ('L') and pax 'path'
// records. Links and other special entries are skipped; data sets do not need them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace convlab {

// What an extraction may take: a data set archive is never near these (CIFAR-10 is under
// 200 MB decoded), a decompression bomb soon is.
struct ExtractLimits {
  uint64_t max_bytes = uint64_t{1} << 30;  // uncompressed tar stream: 1 GiB
  uint64_t max_entries = 1'000'000;
  uint64_t free_space_margin = 16 << 20;  // left free beyond what the archive probably needs
};

// Extracts `archive` into `destination` (created if missing). Entries with absolute paths
// or ".." components are refused, so an archive cannot write outside `destination`. The tar
// must end with its end-of-archive blocks and a gzip file with its trailer (CRC-32 checked),
// so a cut archive is never taken for a smaller one. Fails first when the file system lacks
// the space the archive probably needs, and as soon as it would pass `limits`.
void extract_tar(const std::filesystem::path& archive, const std::filesystem::path& destination,
                 const ExtractLimits& limits = {});

// The same for an archive held in memory; `name` stands for the file in messages.
void extract_tar_bytes(const void* data, size_t size, const std::string& name,
                       const std::filesystem::path& destination, const ExtractLimits& limits = {});

// Extracts `archive` into `destination` unless a previous complete extraction is there and
// still holds exactly what it held when it completed. The extraction goes to a sibling folder
// first and is renamed into place with a marker file written last, so an interrupted run
// never leaves a folder that looks complete. The marker lists every folder and file with its
// size and CRC-32 (data/extraction_listing.h); an extraction that no longer matches it (a
// file deleted, cut short, changed or added) or that has no listing (older convlab versions)
// is extracted again, with a warning on stderr saying why.
// Returns true when it extracted, false when it reused an earlier extraction.
bool extract_tar_once(const std::filesystem::path& archive, const std::filesystem::path& destination,
                      const ExtractLimits& limits = {});

// Why the complete extraction in `destination` cannot be reused: no marker, a marker without
// a (readable) listing, or what differs from the listing. nullopt when it matches. With
// `read_files`, every file is read in full and its CRC-32 compared; without, only names, kinds
// and sizes are (a quick check that nothing was deleted, cut short or added).
std::optional<std::string> extraction_damage(const std::filesystem::path& destination, bool read_files = true);

// The marker that says an extraction folder is complete; it holds the folder's listing.
inline constexpr const char* kExtractionCompleteMarker = ".convlab-extraction-complete";

}  // namespace convlab
