// Image decoding: the PNG/JPEG signature, the header read before decoding, then libpng and
// libjpeg-turbo on what passes it.
#include <vector>

#include "framework/data/image_decoder.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return convlab::fuzz::guarded([&] {
    static convlab::ImageDecoder decoder;  // reused, as each loading thread reuses its own
    std::vector<uint8_t> planar(3 * 32 * 32);
    decoder.decode(data, size, "fuzz-image", planar.data());
  });
}
