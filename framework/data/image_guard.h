// Guards in front of stb_image's decoders, for the flaws of the libstb that Debian 12 ships
// (stb_image 2.27) that the image fuzzer found:
//  - a JPEG Huffman table whose 16 code counts add up to more than 256 makes it write past
//    the table (stb_image 2.28 refuses such a table);
//  - a PNG chunk that claims more bytes than the file has makes it allocate that much
//    (a 1 KB file asked for 2 GB) before it notices the end of the file.
// Each guard walks the file the way stb_image reads it and refuses those cases first; all
// else is left to the decoder to judge.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace convlab {

// Throws convlab::Error naming `name` and the byte offset of a Huffman table (DHT segment)
// with more than 256 codes.
void check_jpeg_huffman_tables(const uint8_t* data, size_t size, const std::string& name);

// Throws convlab::Error naming `name` and the chunk when a chunk's length reaches past the
// end of the file (data start after the 8-byte signature).
void check_png_chunk_lengths(const uint8_t* data, size_t size, const std::string& name);

}  // namespace convlab
