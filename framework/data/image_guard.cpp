#include "framework/data/image_guard.h"

#include <algorithm>

#include "framework/core/error.h"

namespace convlab {
namespace {

constexpr uint8_t kSos = 0xda, kEoi = 0xd9, kDht = 0xc4;

bool is_standalone(uint8_t marker) {  // markers without a length: SOI, TEM, RST0..7
  return marker == 0xd8 || marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7);
}

size_t be16(const uint8_t* p) { return static_cast<size_t>(p[0]) << 8 | p[1]; }

// One DHT segment's tables, as stb_image's process_marker reads them: table after table
// while the segment's declared length is not used up, even when a table runs past it (and
// past the end of the file, where stb_image reads zeros).
void check_dht(const uint8_t* data, size_t size, size_t segment, size_t length, const std::string& name) {
  const auto byte = [&](size_t at) -> size_t { return at < size ? data[at] : 0; };
  size_t pos = segment + 2;
  int64_t left = static_cast<int64_t>(length) - 2;
  while (left > 0) {
    const size_t q = byte(pos);
    if ((q >> 4) > 1 || (q & 15) > 3) return;  // stb_image refuses this itself
    size_t codes = 0;
    for (size_t i = 1; i <= 16; ++i) codes += byte(pos + i);
    if (codes > 256)
      CONVLAB_FAIL("cannot decode JPEG image {}: the Huffman table at byte offset {} has {} codes, more than the 256 "
                   "a table can hold (corrupt or crafted file)",
                   name, pos, codes);
    pos += 17 + codes;
    left -= static_cast<int64_t>(17 + codes);
  }
}

}  // namespace

void check_jpeg_huffman_tables(const uint8_t* data, size_t size, const std::string& name) {
  size_t pos = 2;  // after SOI
  while (pos + 1 < size) {
    // The next marker: 0xFF, any fill 0xFFs, then the code. stb_image skips other bytes.
    if (data[pos] != 0xff) {
      ++pos;
      continue;
    }
    size_t code_at = pos + 1;
    while (code_at < size && data[code_at] == 0xff) ++code_at;
    if (code_at >= size) return;
    const uint8_t marker = data[code_at];
    pos = code_at + 1;
    if (marker == kEoi) return;
    if (marker == 0 || is_standalone(marker)) continue;
    if (pos + 2 > size) return;
    const size_t length = be16(data + pos);
    if (length < 2) return;  // stb_image refuses this itself
    if (marker == kDht) check_dht(data, size, pos, length, name);
    pos += length;
    if (marker == kSos) {
      // Entropy-coded data: 0xFF is followed by 0 (a stuffed byte) or a restart marker
      // until the next real marker.
      while (pos + 1 < size &&
             !(data[pos] == 0xff && data[pos + 1] != 0 && !(data[pos + 1] >= 0xd0 && data[pos + 1] <= 0xd7)))
        ++pos;
    }
  }
}

void check_png_chunk_lengths(const uint8_t* data, size_t size, const std::string& name) {
  size_t pos = 8;  // after the signature
  while (pos + 8 <= size) {
    const uint64_t length = uint64_t{data[pos]} << 24 | uint64_t{data[pos + 1]} << 16 | uint64_t{data[pos + 2]} << 8 |
                            data[pos + 3];
    const std::string type(reinterpret_cast<const char*>(data + pos + 4), 4);
    // Length, type, data, CRC.
    if (length > size - pos - 8)
      CONVLAB_FAIL("cannot decode PNG image {}: its chunk at byte offset {} claims {} bytes, but the file ends {} bytes "
                   "later (truncated or corrupt)",
                   name, pos, length, size - pos - 8);
    if (type == "IEND") return;
    pos += 12 + length;
  }
}

}  // namespace convlab
