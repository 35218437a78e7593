#include "framework/data/image_decoder.h"

#include <png.h>
#include <turbojpeg.h>

#include <algorithm>
#include <initializer_list>
#include <limits>
#include <memory>

#include "framework/core/error.h"

#ifndef CONVLAB_TURBOJPEG_VERSION
#error "CONVLAB_TURBOJPEG_VERSION comes from pkg-config (framework/CMakeLists.txt passes it)"
#endif

namespace convlab {
namespace {

constexpr int kSide = 32;
constexpr int kChannels = 3;

// Pillow's defaults: libjpeg's JDCT_ISLOW and do_fancy_upsampling (it changes them only in
// draft mode). TurboJPEG's defaults are the same; the flag makes the choice explicit. A
// warning (corrupt or missing data, which libjpeg fills with grey) stops decoding, and a
// progressive file may not have more than 500 scans (each one a pass over the image).
constexpr int kJpegFlags = TJFLAG_ACCURATEDCT | TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS;

bool starts_with(const uint8_t* data, size_t size, std::initializer_list<uint8_t> signature) {
  return size >= signature.size() && std::equal(signature.begin(), signature.end(), data);
}

// Interleaved (32, 32, 3) to planar (3, 32, 32), the binary release's layout.
void to_planar(const uint8_t* interleaved, uint8_t* planar) {
  for (int c = 0; c < kChannels; ++c)
    for (int i = 0; i < kSide * kSide; ++i) planar[c * kSide * kSide + i] = interleaved[i * kChannels + c];
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

void decode_png(const uint8_t* data, size_t size, const std::string& name, uint8_t* planar) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  const std::unique_ptr<png_image, void (*)(png_imagep)> cleanup(&image, png_image_free);
  if (!png_image_begin_read_from_memory(&image, data, size))
    CONVLAB_FAIL("cannot read the PNG header of image {} ({} bytes): {}", name, size, image.message);
  const int channels = static_cast<int>(PNG_IMAGE_SAMPLE_CHANNELS(image.format));
  if (image.width != kSide || image.height != kSide || channels != kChannels)
    CONVLAB_FAIL("image {} is a {}x{} PNG with {} channel(s); CIFAR-10 images must be 32x32 RGB (3 channels)", name,
                 image.width, image.height, channels);
  image.format = PNG_FORMAT_RGB;
  uint8_t interleaved[kSide * kSide * kChannels];
  // 8-bit RGB whatever the file's depth or palette: 32 * 3 bytes a row (row_stride 0).
  if (!png_image_finish_read(&image, nullptr, interleaved, 0, nullptr))
    CONVLAB_FAIL("cannot decode PNG image {} ({} bytes): truncated or corrupt ({})", name, size, image.message);
  to_planar(interleaved, planar);
}

}  // namespace

ImageDecoder::ImageDecoder() : jpeg_(tjInitDecompress()) {
  CONVLAB_CHECK(jpeg_ != nullptr, "cannot start libjpeg-turbo's decompressor: {}", tjGetErrorStr2(nullptr));
}

ImageDecoder::~ImageDecoder() { tjDestroy(jpeg_); }

void ImageDecoder::decode(const uint8_t* data, size_t size, const std::string& name, uint8_t* planar) {
  if (starts_with(data, size, {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'})) return decode_png(data, size, name, planar);
  if (starts_with(data, size, {0xff, 0xd8, 0xff})) return decode_jpeg(data, size, name, planar);
  std::string start;
  for (size_t i = 0; i < std::min<size_t>(size, 8); ++i) start += fmt::format(" {:02x}", data[i]);
  CONVLAB_FAIL("image {} ({} bytes) is neither PNG nor JPEG (it starts with{})", name, size,
               size == 0 ? " nothing" : start);
}

void ImageDecoder::decode_jpeg(const uint8_t* data, size_t size, const std::string& name, uint8_t* planar) {
  auto* handle = static_cast<tjhandle>(jpeg_);
  CONVLAB_CHECK(size <= std::numeric_limits<unsigned long>::max(), "image {} is too large ({} bytes)", name, size);
  // TurboJPEG's buffers are non-const in its 2.x API, though it only reads them.
  auto* source = const_cast<unsigned char*>(data);
  const auto length = static_cast<unsigned long>(size);
  int width = 0, height = 0, subsampling = 0, colourspace = 0;
  if (tjDecompressHeader3(handle, source, length, &width, &height, &subsampling, &colourspace) != 0)
    CONVLAB_FAIL("cannot read the JPEG header of image {} ({} bytes): {}", name, size, tjGetErrorStr2(handle));
  if (width < 1 || height < 1)
    CONVLAB_FAIL("cannot read the JPEG header of image {} ({} bytes): it gives no image size (corrupt file?)", name,
                 size);
  if (width != kSide || height != kSide || (colourspace != TJCS_YCbCr && colourspace != TJCS_RGB))
    CONVLAB_FAIL("image {} is a {}x{} {} JPEG; CIFAR-10 images must be 32x32 RGB (3 channels)", name, width, height,
                 colourspace_name(colourspace));
  uint8_t interleaved[kSide * kSide * kChannels];
  if (tjDecompress2(handle, source, length, interleaved, kSide, kSide * kChannels, kSide, TJPF_RGB, kJpegFlags) != 0)
    CONVLAB_FAIL("cannot decode JPEG image {} ({} bytes): truncated or corrupt ({})", name, size,
                 tjGetErrorStr2(handle));
  to_planar(interleaved, planar);
}

std::string image_decoder_identity() {
  return "jpeg: libjpeg-turbo " CONVLAB_TURBOJPEG_VERSION " (TurboJPEG, accurate DCT, fancy upsampling, RGB); "
         "png: libpng " PNG_LIBPNG_VER_STRING " (simplified API, RGB)";
}

}  // namespace convlab
