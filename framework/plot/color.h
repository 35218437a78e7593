// Colours of figures: 8-bit sRGB, as written to PNG and given to cairo.
#pragma once

#include <cmath>
#include <cstdint>

namespace convlab {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;

  bool operator==(const Rgb&) const = default;
};

inline constexpr Rgb kWhite{255, 255, 255};
inline constexpr Rgb kBlack{0, 0, 0};

// a + (b - a) * t, per channel, t in [0, 1].
inline Rgb mix(Rgb a, Rgb b, float t) {
  auto channel = [t](uint8_t from, uint8_t to) {
    return static_cast<uint8_t>(std::lround(static_cast<float>(from) + (static_cast<float>(to) - from) * t));
  };
  return Rgb{channel(a.r, b.r), channel(a.g, b.g), channel(a.b, b.b)};
}

// Perceived brightness in [0, 255] (ITU-R BT.601 weights): picks dark or light text on a colour.
inline float luma(Rgb c) { return 0.299f * c.r + 0.587f * c.g + 0.114f * c.b; }

}  // namespace convlab
