// .tar.gz and .tar archives: gzip members and trailers, tar headers, long names, pax records,
// paths, the end-of-archive blocks and the extraction limits. Extracts into a scratch folder
// that nothing may write outside of.
#include <unistd.h>

#include <filesystem>
#include <string>

#include "framework/data/tar_reader.h"
#include "tests/fuzz/fuzz_support.h"

namespace fs = std::filesystem;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // In memory where there is a tmpfs: thousands of small extractions a second.
  static const fs::path scratch = (fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path()) /
                                  ("convlab-fuzz-tar-" + std::to_string(getpid()));
  static const fs::path root = scratch / "inside";
  fs::remove_all(scratch);
  fs::create_directories(scratch);
  convlab::ExtractLimits limits;
  limits.max_bytes = 8 << 20;  // small, so that a bomb is caught in milliseconds
  limits.max_entries = 1000;
  limits.free_space_margin = 0;
  convlab::fuzz::guarded([&] { convlab::extract_tar_bytes(data, size, "fuzz.tar.gz", root, limits); });
  for (const fs::directory_entry& entry : fs::directory_iterator(scratch))
    convlab::fuzz::require(entry.path() == root, "nothing is written outside the destination");
  fs::remove_all(scratch);
  return 0;
}
