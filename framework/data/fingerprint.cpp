#include "framework/data/fingerprint.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "framework/core/error.h"

namespace convlab {

void Fnv1a::add_bytes(const void* data, size_t size) {
  const auto* bytes = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < size; ++i) {
    hash_ ^= bytes[i];
    hash_ *= 0x100000001b3ull;
  }
}

void Fnv1a::add(std::string_view text) {
  add(static_cast<uint64_t>(text.size()));
  add_bytes(text.data(), text.size());
}

void Fnv1a::add(uint64_t value) { add_bytes(&value, sizeof(value)); }

uint64_t fingerprint_files(const std::filesystem::path& root, const std::vector<std::filesystem::path>& files) {
  namespace fs = std::filesystem;
  Fnv1a hash;
  hash.add(fs::weakly_canonical(root).generic_string());
  hash.add(static_cast<uint64_t>(files.size()));
  const std::string root_text = root.generic_string();
  for (const fs::path& file : files) {
    // Files are listed below root, so a prefix strip is the relative path (and much cheaper
    // than path::lexically_relative over 60,000 files).
    std::string relative = file.generic_string();
    if (relative.compare(0, root_text.size(), root_text) == 0) relative.erase(0, root_text.size());
    hash.add(relative);
    // One stat per file: an image folder has 60,000 of them and this runs on every load.
    struct stat info;
    CONVLAB_CHECK(::stat(file.c_str(), &info) == 0, "cannot stat {}: {}", file.string(), std::strerror(errno));
    hash.add(static_cast<uint64_t>(info.st_size));
    hash.add(static_cast<uint64_t>(info.st_mtim.tv_sec) * 1'000'000'000ull +
             static_cast<uint64_t>(info.st_mtim.tv_nsec));
  }
  return hash.value();
}

void check_files_unchanged(const std::filesystem::path& root, const std::vector<std::filesystem::path>& files,
                           uint64_t before, const std::string& source) {
  std::string why;
  try {
    if (fingerprint_files(root, files) != before) why = "a file's size or modification time changed";
  } catch (const Error& error) {
    why = error.what();  // a file is gone
  }
  if (!why.empty())
    CONVLAB_FAIL("{} changed while it was being decoded ({}), so the decoded set matches none of its states and was "
                 "not cached; run again once nothing else writes to it",
                 source, why);
}

}  // namespace convlab
