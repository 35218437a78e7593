#include "framework/data/image_decoder.h"

#include <stb_image.h>
#include <turbojpeg.h>

#include "framework/core/error.h"

#ifndef CONVLAB_TURBOJPEG_VERSION
#error "CONVLAB_TURBOJPEG_VERSION comes from pkg-config (framework/CMakeLists.txt passes it)"
#endif

namespace convlab {
namespace {

constexpr int kSide = 32;

// Pillow's defaults: libjpeg's JDCT_ISLOW and do_fancy_upsampling (it changes them only in
// draft mode). TurboJPEG's defaults are the same; the flag makes the choice explicit.
constexpr int kJpegFlags = TJFLAG_ACCURATEDCT;

bool is_jpeg(const std::vector<uint8_t>& bytes) {
  return bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF;
}

// Interleaved (32, 32, 3) to planar (3, 32, 32), the binary release's layout.
void to_planar(const uint8_t* interleaved, uint8_t* planar) {
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < kSide * kSide; ++i) planar[c * kSide * kSide + i] = interleaved[i * 3 + c];
}

const char* colourspace_name(int colourspace) {
  switch (colourspace) {
    case TJCS_RGB: return "RGB";
    case TJCS_YCbCr: return "YCbCr";
    case TJCS_GRAY: return "grayscale";
    case TJCS_CMYK: return "CMYK";
    case TJCS_YCCK: return "YCCK";
    default: return "unknown";
  }
}

}  // namespace

ImageDecoder::ImageDecoder() : jpeg_(tjInitDecompress()) {
  CONVLAB_CHECK(jpeg_ != nullptr, "cannot start libjpeg-turbo's decompressor: {}", tjGetErrorStr2(nullptr));
}

ImageDecoder::~ImageDecoder() { tjDestroy(jpeg_); }

void ImageDecoder::decode(const std::vector<uint8_t>& bytes, const std::string& name, uint8_t* planar) {
  if (is_jpeg(bytes)) return decode_jpeg(bytes, name, planar);
  int width = 0, height = 0, channels = 0;
  uint8_t* pixels = stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &width, &height, &channels, 0);
  CONVLAB_CHECK(pixels != nullptr, "cannot decode image {} ({} bytes): {}", name, bytes.size(), stbi_failure_reason());
  if (width != kSide || height != kSide || channels != 3) {
    stbi_image_free(pixels);
    CONVLAB_FAIL("image {} is {}x{} with {} channel(s); CIFAR-10 images must be 32x32 RGB (3 channels)", name, width,
                 height, channels);
  }
  to_planar(pixels, planar);
  stbi_image_free(pixels);
}

void ImageDecoder::decode_jpeg(const std::vector<uint8_t>& bytes, const std::string& name, uint8_t* planar) {
  auto* handle = static_cast<tjhandle>(jpeg_);
  // TurboJPEG's buffers are non-const in its 2.x API, though it only reads them.
  auto* source = const_cast<unsigned char*>(bytes.data());
  const auto size = static_cast<unsigned long>(bytes.size());
  int width = 0, height = 0, subsampling = 0, colourspace = 0;
  if (tjDecompressHeader3(handle, source, size, &width, &height, &subsampling, &colourspace) != 0)
    CONVLAB_FAIL("cannot decode the JPEG image {} ({} bytes): {}", name, bytes.size(), tjGetErrorStr2(handle));
  if (width < 1 || height < 1)
    CONVLAB_FAIL("cannot decode the JPEG image {} ({} bytes): its header gives no image size (corrupt file?)", name,
                 bytes.size());
  if (width != kSide || height != kSide || (colourspace != TJCS_YCbCr && colourspace != TJCS_RGB))
    CONVLAB_FAIL("image {} is a {}x{} {} JPEG; CIFAR-10 images must be 32x32 RGB (3 channels)", name, width, height,
                 colourspace_name(colourspace));
  uint8_t interleaved[kSide * kSide * 3];
  // Warnings count as errors: libjpeg warns about truncated or corrupt data and fills in grey.
  if (tjDecompress2(handle, source, size, interleaved, kSide, kSide * 3, kSide, TJPF_RGB, kJpegFlags) != 0)
    CONVLAB_FAIL("cannot decode the JPEG image {} ({} bytes): {}", name, bytes.size(), tjGetErrorStr2(handle));
  to_planar(interleaved, planar);
}

std::string image_decoder_identity() {
  return "jpeg: libjpeg-turbo " CONVLAB_TURBOJPEG_VERSION " (TurboJPEG, accurate DCT, fancy upsampling, RGB); "
         "other: stb_image";
}

}  // namespace convlab
