// The order in which an epoch visits the training set.
#pragma once

#include <cstdint>
#include <vector>

namespace convlab {

// The permutation of 0..n-1 for `epoch`: the indices sorted by the 64-bit keys
// (random_u32(RandomKey{seed, kShuffle, epoch}, i) << 32 | i), ascending. The index in the
// low half makes keys unique, so a GPU radix sort of the same keys gives the same order.
std::vector<int32_t> epoch_order(int64_t n, uint64_t seed, uint32_t epoch);

}  // namespace convlab
