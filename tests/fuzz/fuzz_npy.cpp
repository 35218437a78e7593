// .npy: magic, version, header length and dict, shape and data size.
#include <sstream>
#include <string>

#include "framework/io/npy.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return convlab::fuzz::guarded([&] {
    std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
    const convlab::NpyArray array = convlab::read_npy(in, size, "fuzz.npy");
    convlab::fuzz::require(array.bytes.size() == static_cast<size_t>(array.numel()) * convlab::dtype_size(array.dtype),
                           "the data hold exactly shape x dtype bytes");
    array.check_rank(2);
  });
}
