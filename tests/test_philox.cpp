// Philox4x32-10 against the known-answer vectors of its authors (Random123 kat_vectors).
#include <gtest/gtest.h>

#include <set>

#include "kernels/philox.h"

using namespace convlab;
using kernels::Philox4;

TEST(Philox, KnownAnswers) {
  const Philox4 zero = kernels::philox4x32_10(Philox4{{0, 0, 0, 0}}, 0, 0);
  EXPECT_EQ(zero.v[0], 0x6627e8d5u);
  EXPECT_EQ(zero.v[1], 0xe169c58du);
  EXPECT_EQ(zero.v[2], 0xbc57ac4cu);
  EXPECT_EQ(zero.v[3], 0x9b00dbd8u);
  const Philox4 ones = kernels::philox4x32_10(Philox4{{~0u, ~0u, ~0u, ~0u}}, ~0u, ~0u);
  EXPECT_EQ(ones.v[0], 0x408f276du);
  EXPECT_EQ(ones.v[1], 0x41c83b0eu);
  EXPECT_EQ(ones.v[2], 0xa20bc7c6u);
  EXPECT_EQ(ones.v[3], 0x6d5451fdu);
  const Philox4 pi = kernels::philox4x32_10(Philox4{{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}},
                                            0xa4093822u, 0x299f31d0u);
  EXPECT_EQ(pi.v[0], 0xd16cfe09u);
  EXPECT_EQ(pi.v[1], 0x94fdccebu);
  EXPECT_EQ(pi.v[2], 0x5001e420u);
  EXPECT_EQ(pi.v[3], 0x24126ea1u);
}

TEST(Philox, StreamsAreDistinctAndUniform) {
  const RandomKey a{7, 1, 0}, b{7, 2, 0}, c{7, 1, 1}, d{8, 1, 0};
  int equal = 0;
  double mean = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    const uint32_t x = kernels::random_u32(a, i);
    equal += x == kernels::random_u32(b, i) || x == kernels::random_u32(c, i) || x == kernels::random_u32(d, i);
    const float u = kernels::random_uniform(a, i);
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    mean += u;
  }
  EXPECT_LE(equal, 1);
  EXPECT_NEAR(mean / n, 0.5, 0.005);
  std::set<uint32_t> below;
  for (int i = 0; i < 1000; ++i) below.insert(kernels::random_below(a, i, 9));
  EXPECT_EQ(below.size(), 9u);
  EXPECT_EQ(*below.rbegin(), 8u);
}
