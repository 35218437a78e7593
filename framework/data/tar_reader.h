// Extraction of tar archives (gzip-compressed or plain) read through zlib: ustar headers in
// 512-byte blocks, regular files and directories, GNU long names ('L') and pax 'path'
// records. Links and other special entries are skipped; data sets do not need them.
#pragma once

#include <filesystem>

namespace convlab {

// Extracts `archive` into `destination` (created if missing). Entries with absolute paths
// or ".." components are refused, so an archive cannot write outside `destination`.
void extract_tar(const std::filesystem::path& archive, const std::filesystem::path& destination);

// Extracts `archive` into `destination` unless a previous complete extraction is there.
// The extraction goes to a sibling folder first and is renamed into place with a marker
// file written last, so an interrupted run never leaves a folder that looks complete.
// Returns true when it extracted, false when it reused an earlier extraction.
bool extract_tar_once(const std::filesystem::path& archive, const std::filesystem::path& destination);

// The marker that says an extraction folder is complete.
inline constexpr const char* kExtractionCompleteMarker = ".convlab-extraction-complete";

}  // namespace convlab
