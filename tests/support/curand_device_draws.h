// Random words drawn on GPU 0, for the tests that compare convlab's Philox4x32-10
// (kernels/philox.h) with cuRAND's: cuRAND's device API (curand_kernel.h) and convlab's own
// kernels::random_u32, each run in a kernel. CUDA builds only; every function throws
// convlab::Error when the GPU fails.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/philox.h"

namespace convlab::test_support {

// Where a cuRAND Philox4_32_10 state starts: curand_init(seed, subsequence, offset, &state).
struct CurandStart {
  uint64_t seed;
  uint64_t subsequence;
  uint64_t offset;
};

// For each start, `words` words (a multiple of 4) drawn four at a time with curand4, then
// `words` more drawn one at a time with curand from a fresh curand_init at the same start:
// 2 * words per start, start after start.
std::vector<uint32_t> curand_words_on_device(const std::vector<CurandStart>& starts, int words);

// For each key, kernels::random_u32(key, first + i) for i in [0, words), computed on the
// device: `words` per key, key after key.
std::vector<uint32_t> random_u32_on_device(const std::vector<RandomKey>& keys, uint64_t first, int words);

}  // namespace convlab::test_support
