// Decoding one CIFAR image file (32x32 RGB) into the planar (3, 32, 32) uint8 layout, told
// PNG or JPEG by its signature whatever the file is called.
// JPEG goes through libjpeg-turbo with Pillow's default settings (the accurate integer
// inverse DCT and "fancy" smooth chroma upsampling), so that convlab sees the same pixels as
// PIL.Image.open(f).convert("RGB"), torchvision and every other libjpeg-turbo user; PNG goes
// through libpng. Both libraries are fuzzed upstream without end; stb_image 2.27 (Debian 12's
// libstb), which convlab used before, wrote and read outside its Huffman tables and allocated
// what a PNG chunk claimed, on files the fuzzer made.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace convlab {

// Holds the JPEG decompressor: one per thread (it is not thread-safe), reused across images.
class ImageDecoder {
 public:
  ImageDecoder();
  ~ImageDecoder();
  ImageDecoder(const ImageDecoder&) = delete;
  ImageDecoder& operator=(const ImageDecoder&) = delete;

  // Decodes `size` bytes (the file `name`, for messages) into planar (3, 32, 32). The size
  // and channel count are read from the header first and must be 32x32 with 3 channels (RGB,
  // or a palette of RGB) before any pixel is decoded; corrupt or truncated data are an error
  // too, not a partly grey image. Errors name the file and its format.
  void decode(const uint8_t* data, size_t size, const std::string& name, uint8_t* planar);
  void decode(const std::vector<uint8_t>& bytes, const std::string& name, uint8_t* planar) {
    decode(bytes.data(), bytes.size(), name, planar);
  }

 private:
  void decode_jpeg(const uint8_t* data, size_t size, const std::string& name, uint8_t* planar);
  void* jpeg_ = nullptr;  // a TurboJPEG handle
};

// The decoders and their settings ("jpeg: libjpeg-turbo 2.1.5 ...; png: libpng 1.6.39"),
// part of a decoded set's cache fingerprint: pixels decoded another way are never reused.
std::string image_decoder_identity();

}  // namespace convlab
