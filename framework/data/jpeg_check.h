// A guard in front of stb_image's JPEG decoder. The libstb of Debian 12 (stb_image 2.27)
// builds a Huffman table from its 16 code counts without checking that they add up to at
// most 256, and writes past the table when they do not (stb_image 2.28 refuses such a
// table). The guard walks the JPEG's markers the way stb_image reads them and refuses any
// such table first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace convlab {

// Throws convlab::Error naming `name` and the byte offset of a Huffman table (DHT segment)
// with more than 256 codes. Anything else is left for the decoder to judge.
void check_jpeg_huffman_tables(const uint8_t* data, size_t size, const std::string& name);

}  // namespace convlab
