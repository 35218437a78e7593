// safetensors: header length, JSON header (nesting, numbers, types, offsets) and data.
#include <sstream>
#include <string>

#include "framework/io/safetensors.h"
#include "framework/train/checkpoint.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return convlab::fuzz::guarded([&] {
    std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
    const convlab::SafetensorsFile file = convlab::read_safetensors(in, size, "fuzz.safetensors");
    for (const convlab::NamedArray& array : file.arrays)
      convlab::fuzz::require(array.num_elements() >= 0, "a read array has a valid shape");
    // What the trainer and the loader read from the metadata.
    if (file.metadata.count("epoch")) convlab::metadata_int(file.metadata, "epoch", file.path, 0, 100000);
  });
}
