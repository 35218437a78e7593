// Decoding one CIFAR-sized image from memory: PNG with libpng, JPEG with libjpeg-turbo, told
// apart by signature whatever the file is called. Both libraries are fuzzed upstream without
// end; stb_image 2.27 (Debian 12's libstb), which convlab used before, wrote and read outside
// its Huffman tables and allocated what a PNG chunk claimed, on files the fuzzer made.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace convlab {

// Decodes into `planar` (3, 32, 32). The size and channel count are read from the header
// first and must be 32x32 with 3 channels (RGB, or a palette of RGB) before any pixel is
// decoded; corrupt or truncated data are an error too, not a partly grey image. Errors name
// `name` and the format.
void decode_image_bytes(const uint8_t* data, size_t size, const std::string& name, uint8_t* planar);

}  // namespace convlab
