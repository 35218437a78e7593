#include "framework/data/image_decoder.h"

#include <png.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "framework/core/error.h"

namespace convlab {
namespace {

constexpr int kSide = 32;
constexpr int kChannels = 3;

bool starts_with(const uint8_t* data, size_t size, std::initializer_list<uint8_t> signature) {
  return size >= signature.size() && std::equal(signature.begin(), signature.end(), data);
}

[[noreturn]] void wrong_shape(const std::string& name, const char* format, int width, int height, int channels) {
  CONVLAB_FAIL("image {} is a {}x{} {} with {} channel(s); CIFAR-10 images must be 32x32 RGB (3 channels)", name, width,
               height, format, channels);
}

// Interleaved (32, 32, 3) to planar (3, 32, 32), the binary release's layout.
void to_planar(const uint8_t* interleaved, uint8_t* planar) {
  for (int c = 0; c < kChannels; ++c)
    for (int i = 0; i < kSide * kSide; ++i) planar[c * kSide * kSide + i] = interleaved[i * kChannels + c];
}

void decode_png(const uint8_t* data, size_t size, const std::string& name, uint8_t* planar) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  const std::unique_ptr<png_image, void (*)(png_imagep)> cleanup(&image, png_image_free);
  if (!png_image_begin_read_from_memory(&image, data, size))
    CONVLAB_FAIL("cannot read the PNG header of image {} ({} bytes): {}", name, size, image.message);
  const int channels = static_cast<int>(PNG_IMAGE_SAMPLE_CHANNELS(image.format));
  if (image.width != kSide || image.height != kSide || channels != kChannels)
    wrong_shape(name, "PNG", static_cast<int>(image.width), static_cast<int>(image.height), channels);
  image.format = PNG_FORMAT_RGB;
  std::vector<uint8_t> pixels(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, pixels.data(), 0, nullptr))
    CONVLAB_FAIL("cannot decode PNG image {} ({} bytes): truncated or corrupt ({})", name, size, image.message);
  to_planar(pixels.data(), planar);
}

void decode_jpeg(const uint8_t* data, size_t size, const std::string& name, uint8_t* planar) {
  const std::unique_ptr<void, int (*)(tjhandle)> handle(tjInitDecompress(), tjDestroy);
  CONVLAB_CHECK(handle != nullptr, "cannot start the JPEG decoder for {}: {}", name, tjGetErrorStr2(nullptr));
  CONVLAB_CHECK(size <= static_cast<size_t>(std::numeric_limits<unsigned long>::max()), "image {} is too large", name);
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(handle.get(), data, static_cast<unsigned long>(size), &width, &height, &subsampling,
                          &colorspace) != 0)
    CONVLAB_FAIL("cannot read the JPEG header of image {} ({} bytes): {}", name, size, tjGetErrorStr2(handle.get()));
  const int channels = colorspace == TJCS_GRAY ? 1 : (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK) ? 4 : 3;
  if (width != kSide || height != kSide || channels != kChannels) wrong_shape(name, "JPEG", width, height, channels);
  std::vector<uint8_t> pixels(kSide * kSide * kChannels);
  // Warnings (corrupt or missing data, which libjpeg fills with grey) are errors here, and a
  // progressive file may not have more than 500 scans (each one a pass over the image).
  if (tjDecompress2(handle.get(), data, static_cast<unsigned long>(size), pixels.data(), kSide, 0, kSide, TJPF_RGB,
                    TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS) != 0)
    CONVLAB_FAIL("cannot decode JPEG image {} ({} bytes): truncated or corrupt ({})", name, size,
                 tjGetErrorStr2(handle.get()));
  to_planar(pixels.data(), planar);
}

}  // namespace

void decode_image_bytes(const uint8_t* data, size_t size, const std::string& name, uint8_t* planar) {
  if (starts_with(data, size, {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'})) return decode_png(data, size, name, planar);
  if (starts_with(data, size, {0xff, 0xd8, 0xff})) return decode_jpeg(data, size, name, planar);
  std::string start;
  for (size_t i = 0; i < std::min<size_t>(size, 8); ++i) start += fmt::format(" {:02x}", data[i]);
  CONVLAB_FAIL("image {} ({} bytes) is neither PNG nor JPEG (it starts with{})", name, size,
               size == 0 ? " nothing" : start);
}

}  // namespace convlab
