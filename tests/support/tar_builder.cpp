#include "tests/support/tar_builder.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace convlab::test_support {
namespace {

void write_octal(char* field, size_t width, unsigned long long value) {
  std::snprintf(field, width, "%0*llo", static_cast<int>(width - 1), value);
}

}  // namespace

std::string tar_header(const std::string& name, char type, unsigned long long size) {
  char header[512] = {};
  std::memcpy(header, name.data(), std::min<size_t>(name.size(), 100));
  write_octal(header + 100, 8, type == '5' ? 0755 : 0644);
  write_octal(header + 108, 8, 0);
  write_octal(header + 116, 8, 0);
  write_octal(header + 124, 12, size);
  write_octal(header + 136, 12, 1700000000);
  header[156] = type;
  std::memcpy(header + 257, "ustar", 6);
  std::memcpy(header + 263, "00", 2);
  std::memset(header + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : header) sum += c;
  std::snprintf(header + 148, 7, "%06o", sum);
  return std::string(header, sizeof(header));
}

std::string tar_bytes(const std::vector<std::pair<std::string, std::string>>& files, bool end_blocks) {
  std::string tar;
  for (const auto& [name, content] : files) {
    tar += tar_header(name, '0', content.size());
    tar += content;
    tar.append((512 - content.size() % 512) % 512, '\0');
  }
  if (end_blocks) tar.append(1024, '\0');
  return tar;
}

std::string gzip_bytes(const std::string& data) {
  z_stream z{};
  if (deflateInit2(&z, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) != Z_OK) throw std::runtime_error("deflateInit2");
  std::string out(deflateBound(&z, data.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int code = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (code != Z_STREAM_END) throw std::runtime_error("deflate");
  return out;
}

}  // namespace convlab::test_support
