#include "framework/plot/colormap.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace convlab {

const std::vector<Rgb>& viridis_stops() {
  // The map sampled at t = 0, 0.1, ..., 1.
  static const std::vector<Rgb> anchors = {
      {0x44, 0x01, 0x54}, {0x48, 0x24, 0x75}, {0x41, 0x44, 0x87}, {0x35, 0x5f, 0x8d},
      {0x2a, 0x78, 0x8e}, {0x21, 0x91, 0x8c}, {0x22, 0xa8, 0x84}, {0x44, 0xbf, 0x70},
      {0x7a, 0xd1, 0x51}, {0xbd, 0xdf, 0x26}, {0xfd, 0xe7, 0x25}};
  return anchors;
}

Rgb viridis(float t) {
  const std::vector<Rgb>& anchors = viridis_stops();
  if (std::isnan(t)) return Rgb{128, 128, 128};
  const float position = std::clamp(t, 0.0f, 1.0f) * static_cast<float>(anchors.size() - 1);
  const size_t low = std::min(static_cast<size_t>(position), anchors.size() - 2);
  return mix(anchors[low], anchors[low + 1], position - static_cast<float>(low));
}

Rgb series_color(size_t index) {
  // The widely used category-10 colours (d3, matplotlib), orange a little darker for white backgrounds.
  static constexpr std::array<Rgb, 10> palette = {{
      {31, 119, 180},   // blue
      {230, 120, 20},   // orange
      {44, 160, 44},    // green
      {214, 39, 40},    // red
      {148, 103, 189},  // purple
      {140, 86, 75},    // brown
      {227, 119, 194},  // pink
      {110, 110, 110},  // grey
      {188, 189, 34},   // olive
      {23, 190, 207},   // cyan
  }};
  return palette[index % palette.size()];
}

}  // namespace convlab
