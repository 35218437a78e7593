#include "framework/plot/colorbar.h"

#include <algorithm>
#include <cmath>

#include "framework/core/error.h"
#include "framework/plot/colormap.h"
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

constexpr int kMostIntervals = 5;

Ticks bar_ticks(double vmin, double vmax, int max_intervals) {
  CONVLAB_CHECK(std::isfinite(vmin) && std::isfinite(vmax) && vmin < vmax,
                "colour range [{}, {}] must be finite with vmin < vmax", vmin, vmax);
  return nice_ticks(vmin, vmax, max_intervals, false);
}

// As many intervals as leave more than a label's height of space between tick labels.
int intervals_for(int bar_height, float tick_size) {
  const float label_height = measure_text("0", tick_size).height();
  return std::clamp(static_cast<int>(static_cast<float>(bar_height) / (2.2f * label_height)), 1, kMostIntervals);
}

float widest_tick_label(const Ticks& ticks, float size) {
  float width = 0;
  for (double v : ticks.values) width = std::max(width, measure_text(format_tick(v, ticks.step), size).width);
  return width;
}

// The bar's height decides how many ticks it gets; the width allows for the widest labels of any count.
float widest_tick_label_any_count(double vmin, double vmax, float size) {
  float width = 0;
  for (int intervals = 1; intervals <= kMostIntervals; ++intervals)
    width = std::max(width, widest_tick_label(bar_ticks(vmin, vmax, intervals), size));
  return width;
}

}  // namespace

int colorbar_width(double vmin, double vmax, const std::string& label, const ColorbarStyle& style) {
  float width = static_cast<float>(style.bar_width + 1 + kTickLength + kTickGap) +
                widest_tick_label_any_count(vmin, vmax, style.tick_size);
  if (style.missing_note)
    width = std::max(width, static_cast<float>(style.bar_width + 6) + measure_text(kMissingText, style.tick_size).width);
  if (!label.empty()) width += static_cast<float>(kLabelGap) + measure_text(label, style.label_size).height();
  return static_cast<int>(std::ceil(width));
}

int colorbar_overhang(const ColorbarStyle& style) {
  return static_cast<int>(std::ceil(measure_text("0", style.tick_size).height() / 2)) + 2;
}

void draw_colorbar(Figure& figure, int x, int top, int bottom, double vmin, double vmax, const std::string& label,
                   const ColorbarStyle& style) {
  const int swatch = style.missing_note ? style.bar_width : 0;
  const int bar_bottom = bottom - (style.missing_note ? swatch + kSwatchGap : 0);
  CONVLAB_CHECK(bar_bottom - top >= 10, "rows [{}, {}) leave no room for a colour bar", top, bottom);
  const Rect bar{x, top, style.bar_width, bar_bottom - top};
  const Ticks ticks = bar_ticks(vmin, vmax, intervals_for(bar.height, style.tick_size));

  // The map as a gradient through its own anchor colours: the same colours as the cells,
  // and smooth at any zoom in PDF and SVG.
  figure.fill_vertical_gradient(bar, viridis_stops());
  figure.frame_rect(bar, kFrame);

  const TextStyle tick_style{style.tick_size, kLabel, HAlign::left, VAlign::center};
  for (double v : ticks.values) {
    const double t = (v - vmin) / (vmax - vmin);
    const int row = std::clamp(static_cast<int>(std::floor(bar.bottom() - t * bar.height)), bar.y, bar.bottom() - 1);
    figure.fill_rect(Rect{bar.right() + 1, row, kTickLength, 1}, kFrame);
    figure.draw_text(static_cast<float>(bar.right() + 1 + kTickLength + kTickGap), static_cast<float>(row) + 0.5f,
                     format_tick(v, ticks.step), tick_style);
  }
  if (!label.empty()) {
    const float label_x = static_cast<float>(bar.right() + 1 + kTickLength + kTickGap) +
                          widest_tick_label_any_count(vmin, vmax, style.tick_size) + kLabelGap;
    figure.draw_text(label_x, static_cast<float>(bar.y) + static_cast<float>(bar.height) / 2.0f, label,
                     TextStyle{style.label_size, kLabel, HAlign::center, VAlign::top, true});
  }
  if (style.missing_note) {
    const Rect box{x, bottom - swatch, swatch, swatch};
    fill_missing(figure, box);
    figure.frame_rect(box, kFrame);
    figure.draw_text(static_cast<float>(box.right() + 6), static_cast<float>(box.y) + static_cast<float>(swatch) / 2.0f,
                     kMissingText, tick_style);
  }
}

void fill_missing(Figure& figure, const Rect& rect) { figure.fill_hatched(rect, Rgb{222, 222, 222}, Rgb{120, 120, 120}); }

}  // namespace convlab
