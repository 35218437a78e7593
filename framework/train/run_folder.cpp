#include "framework/train/run_folder.h"

#include <fmt/core.h>

#include "framework/core/error.h"
#include "framework/io/atomic_file.h"
#include "framework/io/orphans.h"

namespace convlab {
namespace fs = std::filesystem;

fs::path RunFolder::checkpoint(int64_t epoch) const {
  return checkpoints() / fmt::format("epoch_{:04d}.safetensors", epoch);
}

void RunFolder::prepare() const {
  for (const fs::path& folder : {dir, checkpoints()}) {
    try {
      std::error_code error;
      fs::create_directories(folder, error);
      if (error) CONVLAB_FAIL("cannot create {}: {}", folder.string(), error.message());
      const fs::path probe = folder / ".write-test";
      write_file_atomically(probe, [](std::ostream& out) { out << "ok"; });
      fs::remove(probe, error);
    } catch (const Error& e) {
      CONVLAB_FAIL("cannot write to the output folder {}: {}; choose another with --output", dir.string(), e.what());
    }
    // Only this run writes here, so a temporary of any other process is a leftover.
    remove_orphan_temporaries(folder, /*other_hosts_gone=*/true);
  }
}

}  // namespace convlab
