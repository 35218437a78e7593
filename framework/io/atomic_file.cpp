#include "framework/io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "framework/core/error.h"
#include "framework/core/pause_point.h"
#include "framework/io/orphans.h"

namespace convlab {
namespace {

// Without fsync a crash soon after the rename can leave the new name pointing at an empty file.
void sync_to_disk(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) CONVLAB_FAIL("cannot reopen {} to flush it: {}", path.string(), std::strerror(errno));
  const int rc = ::fsync(fd);
  const int saved_errno = errno;
  ::close(fd);
  if (rc != 0) CONVLAB_FAIL("cannot flush {} to disk: {}", path.string(), std::strerror(saved_errno));
}

}  // namespace

void write_file_atomically(const std::filesystem::path& path, const std::function<void(std::ostream&)>& writer) {
  // The writer's tag in the name: a later run removes the file if this process dies here.
  const std::filesystem::path temp = path.string() + "." + writer_tag() + ".tmp";
  try {
    {
      std::ofstream out(temp, std::ios::binary | std::ios::trunc);
      if (!out) CONVLAB_FAIL("cannot create {}: {}", temp.string(), std::strerror(errno));
      writer(out);
      out.flush();
      if (!out) CONVLAB_FAIL("error writing {} (disk full?)", temp.string());
      out.close();
      if (out.fail()) CONVLAB_FAIL("error closing {}", temp.string());
    }
    sync_to_disk(temp);
    pause_point("before-rename:" + path.filename().string());
    std::filesystem::rename(temp, path);
  } catch (const std::exception& e) {
    std::error_code ignored;
    std::filesystem::remove(temp, ignored);
    CONVLAB_FAIL("writing {} failed: {}", path.string(), e.what());
  }
}

}  // namespace convlab
