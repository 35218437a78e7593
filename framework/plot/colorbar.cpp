#include "framework/plot/colorbar.h"

#include <algorithm>
#include <cmath>

#include "framework/core/error.h"
#include "framework/plot/colormap.h"
#include "framework/plot/text.h"
#include "framework/plot/ticks.h"

namespace convlab {
namespace {

constexpr Rgb kFrame{70, 70, 70};
constexpr Rgb kLabel{30, 30, 30};
constexpr int kTickLength = 4;
constexpr int kTickGap = 3;     // tick to its label
constexpr int kLabelGap = 8;    // tick labels to the bar's label
constexpr int kSwatchGap = 10;  // bar to the "n/a" swatch

constexpr const char* kMissingText = "n/a";

Ticks bar_ticks(double vmin, double vmax) {
  CONVLAB_CHECK(std::isfinite(vmin) && std::isfinite(vmax) && vmin < vmax,
                "colour range [{}, {}] must be finite with vmin < vmax", vmin, vmax);
  return nice_ticks(vmin, vmax, 5, false);
}

float widest_tick_label(const Ticks& ticks, float size) {
  float width = 0;
  for (double v : ticks.values) width = std::max(width, measure_text(format_tick(v, ticks.step), size).width);
  return width;
}

}  // namespace

int colorbar_width(double vmin, double vmax, const std::string& label, const ColorbarStyle& style) {
  const Ticks ticks = bar_ticks(vmin, vmax);
  float width =
      static_cast<float>(style.bar_width + kTickLength + kTickGap) + widest_tick_label(ticks, style.tick_size);
  if (style.missing_note)
    width =
        std::max(width, static_cast<float>(style.bar_width + 6) + measure_text(kMissingText, style.tick_size).width);
  if (!label.empty()) width += static_cast<float>(kLabelGap) + measure_text(label, style.label_size).height();
  return static_cast<int>(std::ceil(width));
}

void draw_colorbar(Canvas& canvas, int x, int top, int bottom, double vmin, double vmax, const std::string& label,
                   const ColorbarStyle& style) {
  const Ticks ticks = bar_ticks(vmin, vmax);
  const int swatch = style.missing_note ? style.bar_width : 0;
  const int bar_bottom = bottom - (style.missing_note ? swatch + kSwatchGap : 0);
  CONVLAB_CHECK(bar_bottom - top >= 10, "rows [{}, {}) leave no room for a colour bar", top, bottom);
  const Rect bar{x, top, style.bar_width, bar_bottom - top};

  // One colour per row, sampled at the row's centre: vmax at the top.
  for (int y = bar.y; y < bar.bottom(); ++y) {
    const float t = (static_cast<float>(bar.bottom() - y) - 0.5f) / static_cast<float>(bar.height);
    canvas.fill_rect(Rect{bar.x, y, bar.width, 1}, viridis(t));
  }
  canvas.stroke_rect(Rect{bar.x - 1, bar.y - 1, bar.width + 2, bar.height + 2}, kFrame);

  const TextStyle tick_style{style.tick_size, kLabel, HAlign::left, VAlign::center};
  for (double v : ticks.values) {
    const double t = (v - vmin) / (vmax - vmin);
    const int row = std::clamp(static_cast<int>(std::floor(bar.bottom() - t * bar.height)), bar.y, bar.bottom() - 1);
    canvas.fill_rect(Rect{bar.right() + 1, row, kTickLength, 1}, kFrame);
    draw_text(canvas, static_cast<float>(bar.right() + 1 + kTickLength + kTickGap), static_cast<float>(row) + 0.5f,
              format_tick(v, ticks.step), tick_style);
  }
  if (!label.empty()) {
    const float label_x = static_cast<float>(bar.right() + 1 + kTickLength + kTickGap) +
                          widest_tick_label(ticks, style.tick_size) + kLabelGap;
    draw_text(canvas, label_x, static_cast<float>(bar.y) + static_cast<float>(bar.height) / 2.0f, label,
              TextStyle{style.label_size, kLabel, HAlign::center, VAlign::top, true});
  }
  if (style.missing_note) {
    const Rect box{x, bottom - swatch, swatch, swatch};
    fill_missing(canvas, box);
    canvas.stroke_rect(Rect{box.x - 1, box.y - 1, box.width + 2, box.height + 2}, kFrame);
    draw_text(canvas, static_cast<float>(box.right() + 6),
              static_cast<float>(box.y) + static_cast<float>(swatch) / 2.0f, kMissingText, tick_style);
  }
}

void fill_missing(Canvas& canvas, const Rect& rect) {
  constexpr Rgb kPaper{222, 222, 222};
  constexpr Rgb kHatch{120, 120, 120};
  constexpr int kPeriod = 7;
  canvas.fill_rect(rect, kPaper);
  for (int y = rect.y; y < rect.bottom(); ++y)
    for (int x = rect.x; x < rect.right(); ++x)
      if (((x + y) % kPeriod + kPeriod) % kPeriod == 0) canvas.set_pixel(x, y, kHatch);
}

}  // namespace convlab
