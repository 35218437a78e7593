#include "framework/io/file_checksum.h"

#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "framework/core/error.h"

namespace convlab {

uint32_t file_crc32(const std::filesystem::path& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  CONVLAB_CHECK(file != nullptr, "cannot read {}: {}", path.string(), std::strerror(errno));
  std::vector<unsigned char> block(1 << 20);
  uLong crc = ::crc32(0L, Z_NULL, 0);
  for (size_t got; (got = std::fread(block.data(), 1, block.size(), file)) > 0;)
    crc = ::crc32_z(crc, block.data(), got);
  const bool failed = std::ferror(file) != 0;
  std::fclose(file);
  CONVLAB_CHECK(!failed, "cannot read {}: a read error", path.string());
  return static_cast<uint32_t>(crc);
}

}  // namespace convlab
