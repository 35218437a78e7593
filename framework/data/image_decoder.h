// Decoding one CIFAR image file (32x32 RGB) into the planar (3, 32, 32) uint8 layout.
// JPEG goes through libjpeg-turbo with Pillow's default settings (the accurate integer
// inverse DCT and "fancy" smooth chroma upsampling), so that convlab sees the same pixels as
// PIL.Image.open(f).convert("RGB"), torchvision and every other libjpeg-turbo user; PNG (and
// anything else stb_image reads) goes through stb_image. The format is told by the bytes,
// not the file name.
#pragma once

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

  // Decodes `bytes` (the file `name`, for messages) into planar (3, 32, 32). Throws naming
  // the file when it cannot be decoded or is not 32x32 with 3 colour channels.
  void decode(const std::vector<uint8_t>& bytes, const std::string& name, uint8_t* planar);

 private:
  void decode_jpeg(const std::vector<uint8_t>& bytes, const std::string& name, uint8_t* planar);
  void* jpeg_ = nullptr;  // a TurboJPEG handle
};

// The decoders and their settings ("jpeg: libjpeg-turbo 2.1.5 ...; other: stb_image"),
// part of a decoded set's cache fingerprint: pixels decoded another way are never reused.
std::string image_decoder_identity();

}  // namespace convlab
