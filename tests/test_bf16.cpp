// bf16 rounding (kernels/bf16.h) against values worked out by hand: round to nearest, ties to
// even, overflow to infinity, NaN kept, signed zeros and subnormals.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/bf16.h"

using convlab::kernels::Bf16;
using convlab::kernels::float_bits;
using convlab::kernels::float_from_bits;
using convlab::kernels::round_to_bf16;
using convlab::kernels::to_bf16;
using convlab::kernels::to_float;

TEST(Bf16, ExactValuesSurviveTheRoundTrip) {
  for (const float v : {0.0f, 1.0f, -2.5f, 0.15625f, 65536.0f, -1.0f / 128})
    EXPECT_EQ(round_to_bf16(v), v) << v;
}

TEST(Bf16, RoundsToNearestWithTiesToEven) {
  // bf16 steps are 2^-7 just above 1.
  EXPECT_EQ(round_to_bf16(1.0f + 0x1p-8f), 1.0f);                       // halfway: to the even 1.0
  EXPECT_EQ(round_to_bf16(1.0f + 3 * 0x1p-8f), 1.0f + 2 * 0x1p-7f);     // halfway: to the even 1 + 2^-6
  EXPECT_EQ(round_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 1.0f + 0x1p-7f);  // just above halfway: up
  EXPECT_EQ(round_to_bf16(1.0f + 0x1p-8f - 0x1p-20f), 1.0f);            // just below: down
  EXPECT_EQ(round_to_bf16(-(1.0f + 3 * 0x1p-8f)), -(1.0f + 2 * 0x1p-7f));
  // 1.9999 rounds up into the next binade.
  EXPECT_EQ(round_to_bf16(1.9999f), 2.0f);
}

TEST(Bf16, OverflowNanZerosAndSubnormals) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(round_to_bf16(std::numeric_limits<float>::max()), inf);
  EXPECT_EQ(round_to_bf16(-std::numeric_limits<float>::max()), -inf);
  EXPECT_EQ(round_to_bf16(inf), inf);
  EXPECT_TRUE(std::isnan(round_to_bf16(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_TRUE(std::isnan(round_to_bf16(float_from_bits(0x7f800001u))));  // a signalling NaN whose payload would round away
  EXPECT_TRUE(std::isnan(round_to_bf16(float_from_bits(0xff800001u))));
  EXPECT_EQ(to_bf16(-0.0f).bits, 0x8000u);
  EXPECT_EQ(to_bf16(float_from_bits(0x00000001u)).bits, 0x0000u);  // the smallest subnormal: to zero
  EXPECT_EQ(to_bf16(float_from_bits(0x00008000u)).bits, 0x0000u);  // halfway: to even (zero)
  EXPECT_EQ(to_bf16(float_from_bits(0x00018000u)).bits, 0x0002u);  // halfway: to even (2)
  EXPECT_EQ(to_float(Bf16{0x3f80}), 1.0f);
  EXPECT_EQ(float_bits(to_float(Bf16{0x7fc0})) & 0x7fc00000u, 0x7fc00000u);
}

TEST(Bf16, AgreesWithARoundingComputedInDouble) {
  // For random floats: the bf16 result is the nearest bf16 value (ties, which random draws
  // almost never hit, are covered above).
  uint32_t state = 12345;
  for (int i = 0; i < 100000; ++i) {
    state = state * 1664525u + 1013904223u;
    const float f = float_from_bits((state & 0x807fffffu) | (((state >> 9) % 200 + 27) << 23));
    const float r = round_to_bf16(f);
    const uint32_t lower_bits = float_bits(f) & 0xffff0000u;
    const double down = float_from_bits(lower_bits), up = float_from_bits(lower_bits + 0x10000u);
    const double d = f;
    const double nearest = std::abs(d - down) <= std::abs(up - d) ? down : up;
    if (std::abs(d - down) == std::abs(up - d)) continue;
    ASSERT_EQ(static_cast<double>(r), nearest) << std::hexfloat << f;
  }
}
