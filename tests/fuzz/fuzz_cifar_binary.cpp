// The CIFAR-10 binary release's records: sizes and labels. The first byte picks the record
// count the reader is told to expect, so both exact and mismatched sizes are explored.
#include "framework/data/cifar10_binary.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int64_t records = data[0] % 4;
  return convlab::fuzz::guarded([&] {
    convlab::ImageSet set;
    convlab::append_cifar10_records(data + 1, size - 1, records, "fuzz.bin", set);
    convlab::fuzz::require(set.size() == records && set.images.size() == static_cast<size_t>(records) * 3072,
                           "every record read");
    for (uint8_t label : set.labels) convlab::fuzz::require(label <= 9, "labels are CIFAR-10 classes");
  });
}
