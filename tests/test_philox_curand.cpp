// convlab's Philox4x32-10 (kernels/philox.h) is cuRAND's CURAND_RNG_PSEUDO_PHILOX4_32_10,
// word for word. CUDA builds only.
//
// How cuRAND's numbers map onto the generator's (key, counter):
// - The device API (curand_kernel.h): curand_init(seed, subsequence, offset) takes the key
//   (seed low word, seed high word) and the counter (offset / 4 as 64 bits, subsequence as
//   64 bits), and curand() then returns word offset % 4 of that block, the next word, and so
//   on. So word i of convlab's stream RandomKey{seed, stream, step} --
//   kernels::random_u32(key, i) -- is the first word curand() returns after
//   curand_init(seed, (uint64_t(stream) << 32) | step, i): convlab's streams are cuRAND's
//   subsequences, the step in the low half and the purpose tag in the high half.
// - The host generator (curandCreateGeneratorHost; orderings PSEUDO_DEFAULT, PSEUDO_BEST and
//   PSEUDO_LEGACY all give the same words, SEEDED and DYNAMIC are refused for Philox)
//   interleaves 65536 subsequences four words at a time. Its word p, counted from the
//   generator offset (curandSetGeneratorOffset) and across calls, is, with q = p / 4, word
//   4 (q / 65536) + p % 4 of subsequence q % 65536: random_u32({seed, 0, q % 65536}, ...).
//
// The host generator and curand_kernel.h's functions compiled for the host need no GPU, so
// those tests run on every CUDA build; the device half skips when no GPU answers.
#if CONVLAB_WITH_CUDA

#include <gtest/gtest.h>

#include <curand.h>

#include <cstdint>
#include <vector>

#include "framework/backend/cuda_device.h"
#include "kernels/philox.h"
#include "tests/support/curand_device_draws.h"

// curand_kernel.h's device functions are plain C++ besides their qualifiers (its Philox
// multiply has a host branch): declared `static inline` here, the host runs cuRAND's own
// curand_init, skipahead, curand and curand4.
#define QUALIFIERS static inline
#include <cuda_runtime.h>
#include <curand_kernel.h>

using namespace convlab;
using kernels::Philox4;

namespace {

// Word `offset` of subsequence `subsequence` of cuRAND's Philox4_32_10 with `seed`, from the
// definition above, straight from the block function.
uint32_t curand_word(uint64_t seed, uint64_t subsequence, uint64_t offset) {
  const Philox4 counter{{static_cast<uint32_t>(offset >> 2), static_cast<uint32_t>(offset >> 34),
                         static_cast<uint32_t>(subsequence), static_cast<uint32_t>(subsequence >> 32)}};
  return kernels::philox4x32_10(counter, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32))
      .v[offset & 3];
}

// Subsequences the host generator interleaves.
constexpr uint64_t kHostSubsequences = 65536;

// Word p of the host generator's stream with `seed`.
uint32_t host_generator_word(uint64_t seed, uint64_t p) {
  const uint64_t q = p / 4;
  return curand_word(seed, q % kHostSubsequences, 4 * (q / kHostSubsequences) + p % 4);
}

// The same word as convlab draws it: stream 0 (the high half of the subsequence) and the
// subsequence's low half as the step.
uint32_t host_generator_word_as_convlab(uint64_t seed, uint64_t p) {
  const uint64_t q = p / 4;
  const RandomKey key{seed, 0, static_cast<uint32_t>(q % kHostSubsequences)};
  return kernels::random_u32(key, 4 * (q / kHostSubsequences) + p % 4);
}

// Seeds with zero and non-zero high words.
const uint64_t kSeeds[] = {0, 1, 42, 0x0123456789abcdefull, 0xffffffff00000001ull, 0xdeadbeefcafef00dull};

class CurandHostGenerator {
 public:
  CurandHostGenerator() { status_ = curandCreateGeneratorHost(&generator_, CURAND_RNG_PSEUDO_PHILOX4_32_10); }
  ~CurandHostGenerator() {
    if (status_ == CURAND_STATUS_SUCCESS) curandDestroyGenerator(generator_);
  }
  CurandHostGenerator(const CurandHostGenerator&) = delete;
  CurandHostGenerator& operator=(const CurandHostGenerator&) = delete;
  curandStatus_t status() const { return status_; }
  curandGenerator_t get() const { return generator_; }

 private:
  curandGenerator_t generator_ = nullptr;
  curandStatus_t status_;
};

#define SKIP_WITHOUT_HOST_GENERATOR(generator)                                                   \
  if ((generator).status() != CURAND_STATUS_SUCCESS)                                             \
  GTEST_SKIP() << "cuRAND's host generator is unavailable: curandCreateGeneratorHost returned " \
               << static_cast<int>((generator).status())

}  // namespace

// Every word cuRAND's host library generates, for several seeds, generator offsets (within a
// block, across the 65536-subsequence round, past 2^32 blocks) and call sizes, is the
// Philox4x32-10 word the mapping names.
TEST(PhiloxCurand, HostGeneratorIsPhilox4x32_10WordForWord) {
  const curandOrdering_t orderings[] = {CURAND_ORDERING_PSEUDO_DEFAULT, CURAND_ORDERING_PSEUDO_BEST,
                                        CURAND_ORDERING_PSEUDO_LEGACY};
  const uint64_t offsets[] = {0, 1, 3, 5, 262143, 262147, (uint64_t{1} << 36) + 13};
  const size_t sizes[] = {1, 7, 1000, 262144, 4099};
  int64_t compared = 0;
  for (const curandOrdering_t ordering : orderings)
    for (const uint64_t seed : kSeeds)
      for (const uint64_t offset : offsets) {
        SCOPED_TRACE(testing::Message() << "ordering " << ordering << ", seed " << std::hex << seed << std::dec
                                        << ", offset " << offset);
        CurandHostGenerator generator;
        SKIP_WITHOUT_HOST_GENERATOR(generator);
        ASSERT_EQ(curandSetGeneratorOrdering(generator.get(), ordering), CURAND_STATUS_SUCCESS);
        ASSERT_EQ(curandSetPseudoRandomGeneratorSeed(generator.get(), seed), CURAND_STATUS_SUCCESS);
        ASSERT_EQ(curandSetGeneratorOffset(generator.get(), offset), CURAND_STATUS_SUCCESS);
        uint64_t p = offset;
        for (const size_t n : sizes) {
          std::vector<uint32_t> words(n);
          ASSERT_EQ(curandGenerate(generator.get(), words.data(), n), CURAND_STATUS_SUCCESS);
          for (size_t i = 0; i < n; ++i, ++p)
            ASSERT_EQ(words[i], host_generator_word(seed, p)) << "word " << p;
          compared += static_cast<int64_t>(n);
        }
      }
  EXPECT_EQ(compared, 3 * 6 * 7 * int64_t{267251});
}

// The same words are convlab's streams (stream 0, steps 0 to 65535): the host library draws
// what kernels::random_u32 draws.
TEST(PhiloxCurand, HostGeneratorInterleavesConvlabStreams) {
  for (const uint64_t seed : kSeeds) {
    SCOPED_TRACE(testing::Message() << "seed " << std::hex << seed);
    CurandHostGenerator generator;
    SKIP_WITHOUT_HOST_GENERATOR(generator);
    ASSERT_EQ(curandSetPseudoRandomGeneratorSeed(generator.get(), seed), CURAND_STATUS_SUCCESS);
    // Three rounds: words 0 to 11 of every step's stream.
    std::vector<uint32_t> words(3 * 4 * kHostSubsequences);
    ASSERT_EQ(curandGenerate(generator.get(), words.data(), words.size()), CURAND_STATUS_SUCCESS);
    for (size_t p = 0; p < words.size(); ++p) ASSERT_EQ(words[p], host_generator_word_as_convlab(seed, p)) << "word " << p;
  }
}

// Other generator types and unsupported orderings are refused, so the comparison above is
// not against some other default.
TEST(PhiloxCurand, HostGeneratorRefusesSeededAndDynamicOrderings) {
  CurandHostGenerator generator;
  SKIP_WITHOUT_HOST_GENERATOR(generator);
  EXPECT_NE(curandSetGeneratorOrdering(generator.get(), CURAND_ORDERING_PSEUDO_SEEDED), CURAND_STATUS_SUCCESS);
  EXPECT_NE(curandSetGeneratorOrdering(generator.get(), CURAND_ORDERING_PSEUDO_DYNAMIC), CURAND_STATUS_SUCCESS);
}

// cuRAND's device API, compiled for the host: curand_init(seed, (stream << 32) | step, i)
// starts convlab's stream {seed, stream, step} at word i, for purpose tags and steps with
// every bit in use and offsets that carry into the counter's second word.
TEST(PhiloxCurand, DeviceApiStartsConvlabStreams) {
  const RandomKey keys[] = {{0, 0, 0},
                            {7, random_stream::kDropout + 3, 12345},
                            {0xffffffff00000001ull, random_stream::kAugment, 0xfffffffeu},
                            {0xdeadbeefcafef00dull, 0xffffffffu, 0xffffffffu},
                            {42, random_stream::kInit, 1}};
  const uint64_t firsts[] = {0, 1, 2, 3, 4, 1001, (uint64_t{1} << 34) - 5, (uint64_t{1} << 40) + 7};
  int64_t compared = 0;
  for (const RandomKey& key : keys)
    for (const uint64_t first : firsts) {
      SCOPED_TRACE(testing::Message() << "seed " << std::hex << key.seed << ", stream " << key.stream << ", step "
                                      << key.step << std::dec << ", first " << first);
      const uint64_t subsequence = (uint64_t{key.stream} << 32) | key.step;
      curandStatePhilox4_32_10_t one, four;
      curand_init(key.seed, subsequence, first, &one);
      curand_init(key.seed, subsequence, first, &four);
      for (uint64_t i = 0; i < 4096; i += 4) {
        const uint4 block = curand4(&four);
        const uint32_t from_four[4] = {block.x, block.y, block.z, block.w};
        for (uint64_t k = 0; k < 4; ++k) {
          const uint32_t expected = kernels::random_u32(key, first + i + k);
          ASSERT_EQ(curand(&one), expected) << "curand, word " << first + i + k;
          ASSERT_EQ(from_four[k], expected) << "curand4, word " << first + i + k;
          ASSERT_EQ(curand_word(key.seed, subsequence, first + i + k), expected);
        }
        compared += 4;
      }
    }
  EXPECT_EQ(compared, 5 * 8 * 4096);
  // skipahead moves along a subsequence, skipahead_sequence to the next step's stream.
  const RandomKey key{99, random_stream::kShuffle, 7};
  curandStatePhilox4_32_10_t state;
  curand_init(key.seed, (uint64_t{key.stream} << 32) | key.step, 0, &state);
  skipahead(uint64_t{1} << 35, &state);
  EXPECT_EQ(curand(&state), kernels::random_u32(key, uint64_t{1} << 35));
  skipahead_sequence(1, &state);
  EXPECT_EQ(curand(&state), kernels::random_u32(RandomKey{key.seed, key.stream, key.step + 1}, (uint64_t{1} << 35) + 1));
}

// The same on the GPU: curand_init, curand4 and curand in a kernel, and convlab's
// kernels::random_u32 in a kernel, give the host's Philox4x32-10 words.
TEST(PhiloxCurandCuda, DeviceApiOnTheGpuMatchesPhilox) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU";
  const std::vector<RandomKey> keys = {{0, 0, 0},
                                       {7, random_stream::kDropout + 3, 12345},
                                       {0xffffffff00000001ull, random_stream::kAugment, 0xfffffffeu},
                                       {0xdeadbeefcafef00dull, 0xffffffffu, 0xffffffffu}};
  const uint64_t firsts[] = {0, 3, (uint64_t{1} << 34) - 5};
  constexpr int kWords = 1024;
  std::vector<test_support::CurandStart> starts;
  for (const RandomKey& key : keys)
    for (const uint64_t first : firsts) starts.push_back({key.seed, (uint64_t{key.stream} << 32) | key.step, first});
  const std::vector<uint32_t> drawn = test_support::curand_words_on_device(starts, kWords);
  ASSERT_EQ(drawn.size(), starts.size() * 2 * kWords);
  for (size_t s = 0; s < starts.size(); ++s)
    for (int i = 0; i < kWords; ++i) {
      const uint32_t expected = curand_word(starts[s].seed, starts[s].subsequence, starts[s].offset + i);
      ASSERT_EQ(drawn[s * 2 * kWords + i], expected) << "curand4: start " << s << ", word " << i;
      ASSERT_EQ(drawn[s * 2 * kWords + kWords + i], expected) << "curand: start " << s << ", word " << i;
    }
  for (const uint64_t first : firsts) {
    const std::vector<uint32_t> ours = test_support::random_u32_on_device(keys, first, kWords);
    ASSERT_EQ(ours.size(), keys.size() * kWords);
    for (size_t k = 0; k < keys.size(); ++k)
      for (int i = 0; i < kWords; ++i)
        ASSERT_EQ(ours[k * kWords + i], kernels::random_u32(keys[k], first + i))
            << "random_u32 on the device: key " << k << ", word " << first + i;
  }
}

#endif  // CONVLAB_WITH_CUDA
