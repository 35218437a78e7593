// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011),
// the counter-based generator behind cuRAND's PHILOX4_32_10. A draw is a pure function of
// (key, counter), so the CPU and the GPU produce identical streams and any element can be
// drawn without drawing the ones before it.
#pragma once

#include <cstdint>

#include "kernels/hd.h"

namespace convlab::kernels {

struct Philox4 {
  uint32_t v[4];
};

CONVLAB_HD void philox_mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  const uint64_t product = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(product >> 32);
  lo = static_cast<uint32_t>(product);
}

// Ten rounds of Philox4x32 on `counter` with a 64-bit key (k0, k1).
CONVLAB_HD Philox4 philox4x32_10(Philox4 counter, uint32_t k0, uint32_t k1) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    philox_mulhilo(kMul0, counter.v[0], hi0, lo0);
    philox_mulhilo(kMul1, counter.v[2], hi1, lo1);
    counter = Philox4{{hi1 ^ counter.v[1] ^ k0, lo1, hi0 ^ counter.v[3] ^ k1, lo0}};
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
  return counter;
}

// The key of every stream convlab draws: the user's seed plus a purpose tag, so that the
// dropout masks, the crops and the initial weights never share numbers.
struct RandomKey {
  uint64_t seed;
  uint32_t stream;  // what the numbers are for (a layer, augmentation, init, ...)
  uint32_t step;    // the training step or epoch the numbers belong to
  // When set, the step is read from here instead (memory of the device that draws): a
  // captured CUDA graph then draws each replay's numbers from the current step counter.
  const int32_t* step_source = nullptr;
};

// The key with its step taken from step_source, if it has one. Call once per kernel/loop.
CONVLAB_HD RandomKey resolved(RandomKey key) {
  if (key.step_source) key.step = static_cast<uint32_t>(*key.step_source);
  key.step_source = nullptr;
  return key;
}

// The 32-bit random word number `index` of the stream `key`. Words come four to a Philox
// block: block index/4, lane index%4.
CONVLAB_HD uint32_t random_u32(RandomKey key, uint64_t index) {
  const Philox4 counter{{static_cast<uint32_t>(index >> 2), static_cast<uint32_t>(index >> 34),
                         key.step, key.stream}};
  const Philox4 out = philox4x32_10(counter, static_cast<uint32_t>(key.seed),
                                    static_cast<uint32_t>(key.seed >> 32));
  return out.v[index & 3];
}

// Uniform in [0, 1) with 24 random bits: exactly representable in float.
CONVLAB_HD float random_uniform(RandomKey key, uint64_t index) {
  return static_cast<float>(random_u32(key, index) >> 8) * (1.0f / 16777216.0f);
}

// Uniform integer in [0, n) for small n (n << 2^32), by the multiply-shift method.
CONVLAB_HD uint32_t random_below(RandomKey key, uint64_t index, uint32_t n) {
  return static_cast<uint32_t>((static_cast<uint64_t>(random_u32(key, index)) * n) >> 32);
}

}  // namespace convlab::kernels

namespace convlab {

using kernels::RandomKey;

// Purpose tags for RandomKey::stream. Dropout layers take kDropout + their layer number.
namespace random_stream {
inline constexpr uint32_t kInit = 1;
inline constexpr uint32_t kShuffle = 2;
inline constexpr uint32_t kAugment = 3;
inline constexpr uint32_t kDropout = 0x100;
}  // namespace random_stream

}  // namespace convlab
