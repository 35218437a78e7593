// A 64-bit FNV-1a hash of what a data source is made of (paths, sizes, modification times),
// used to name cache files so that any change to the source invalidates them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace convlab {

class Fnv1a {
 public:
  void add_bytes(const void* data, size_t size);
  void add(std::string_view text);  // length-prefixed, so ("ab","c") != ("a","bc")
  void add(uint64_t value);
  uint64_t value() const { return hash_; }

 private:
  uint64_t hash_ = 0xcbf29ce484222325ull;
};

// Hash of root's canonical path and, for every file (listed below root), its path relative
// to root, size and modification time. `files` must be listed in a deterministic order.
uint64_t fingerprint_files(const std::filesystem::path& root, const std::vector<std::filesystem::path>& files);

// Throws, naming `source`, unless fingerprint_files(root, files) still gives `before` (no file
// gone, resized or rewritten): a set decoded while its files changed matches no state of its
// source, so it must be neither used nor cached under the fingerprint.
void check_files_unchanged(const std::filesystem::path& root, const std::vector<std::filesystem::path>& files,
                           uint64_t before, const std::string& source);

}  // namespace convlab
