#include "framework/plot/line_plot.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "framework/core/error.h"
#include "framework/plot/colormap.h"
#include "framework/plot/legend.h"
#include "framework/plot/ticks.h"

namespace convlab {
namespace {

constexpr Rgb kFrame{70, 70, 70};
constexpr Rgb kGrid{228, 228, 228};
constexpr Rgb kLabel{30, 30, 30};
constexpr int kPad = 10;
constexpr int kTickLength = 5;
constexpr size_t kMarkersUpTo = 30;  // series with at most this many points get dots by default

// Limits and ticks of one axis: the data range plus a 4% margin, as matplotlib does, except
// where the plot fixes a limit; ticks at round values inside.
Ticks axis_ticks(double data_low, double data_high, std::optional<double> fixed_low, std::optional<double> fixed_high,
                 bool integer_steps, int max_intervals) {
  double low = fixed_low.value_or(data_low), high = fixed_high.value_or(data_high);
  CONVLAB_CHECK(low < high || (!fixed_low && !fixed_high), "plot axis limits [{}, {}] are empty", low, high);
  const double margin = 0.04 * (high - low);
  if (!fixed_low) low -= margin;
  if (!fixed_high) high += margin;
  return nice_ticks(low, high, max_intervals, false, integer_steps);
}

}  // namespace

bool shows_markers(const Series& series) { return series.markers.value_or(series.x.size() <= kMarkersUpTo); }

void draw_line_plot(Figure& figure, const Rect& area, const LinePlot& plot, const PlotFonts& fonts) {
  double x_low = INFINITY, x_high = -INFINITY, y_low = INFINITY, y_high = -INFINITY;
  for (const Series& series : plot.series) {
    CONVLAB_CHECK(series.x.size() == series.y.size(), "series '{}' has {} x values but {} y values", series.name,
                  series.x.size(), series.y.size());
    for (size_t i = 0; i < series.x.size(); ++i) {
      if (!std::isfinite(series.x[i]) || !std::isfinite(series.y[i])) continue;
      x_low = std::min(x_low, series.x[i]), x_high = std::max(x_high, series.x[i]);
      y_low = std::min(y_low, series.y[i]), y_high = std::max(y_high, series.y[i]);
    }
  }
  if (x_low > x_high) x_low = 0, x_high = 1;  // nothing to show: an empty frame
  if (y_low > y_high) y_low = 0, y_high = 1;
  const Ticks xt = axis_ticks(x_low, x_high, plot.x_min, plot.x_max, plot.x_integer_ticks, 9);
  const Ticks yt = axis_ticks(y_low, y_high, plot.y_min, plot.y_max, false, 6);

  // Margins from the measured sizes of what goes around the plot box.
  const TextExtent tick_extent = measure_text("0", fonts.tick_label);
  float y_tick_width = 0;
  for (double v : yt.values)
    y_tick_width = std::max(y_tick_width, measure_text(format_tick(v, yt.step), fonts.tick_label).width);
  const float last_x_tick_width =
      xt.values.empty() ? 0.0f : measure_text(format_tick(xt.values.back(), xt.step), fonts.tick_label).width;
  const int title_height =
      plot.title.empty() ? 0 : static_cast<int>(std::ceil(measure_text(plot.title, fonts.title).height())) + 8;
  const int axis_label_height = static_cast<int>(std::ceil(measure_text("Ag", fonts.axis_label).height()));
  const int left = area.x + kPad + (plot.y_label.empty() ? 0 : axis_label_height + 8) +
                   static_cast<int>(std::ceil(y_tick_width)) + 6 + kTickLength;
  const int right = area.right() - std::max(kPad + 4, static_cast<int>(std::ceil(last_x_tick_width / 2)) + 4);
  const int top = area.y + kPad + title_height + static_cast<int>(std::ceil(tick_extent.height() / 2));
  const int bottom = area.bottom() - kPad - (plot.x_label.empty() ? 0 : axis_label_height + 6) -
                     static_cast<int>(std::ceil(tick_extent.height())) - 4 - kTickLength;
  CONVLAB_CHECK(right - left >= 20 && bottom - top >= 20, "a {}x{} area is too small for the plot '{}'", area.width,
                area.height, plot.title);
  const Rect box{left, top, right - left, bottom - top};

  auto to_x = [&](double x) { return static_cast<float>(box.x + (x - xt.low) / (xt.high - xt.low) * box.width); };
  auto to_y = [&](double y) { return static_cast<float>(box.bottom() - (y - yt.low) / (yt.high - yt.low) * box.height); };
  auto column_of = [&](double x) { return std::clamp(static_cast<int>(std::floor(to_x(x))), box.x, box.right() - 1); };
  auto row_of = [&](double y) { return std::clamp(static_cast<int>(std::floor(to_y(y))), box.y, box.bottom() - 1); };

  for (double v : xt.values) figure.fill_rect(Rect{column_of(v), box.y, 1, box.height}, kGrid);
  for (double v : yt.values) figure.fill_rect(Rect{box.x, row_of(v), box.width, 1}, kGrid);

  // Markers and series, clipped to the plot box; screen points are kept for placing the legend.
  std::vector<PointF> drawn;
  figure.push_clip(box);
  CONVLAB_CHECK(plot.x_marker_labels.empty() || plot.x_marker_labels.size() == plot.x_markers.size(),
                "plot '{}' has {} x markers but {} marker labels", plot.title, plot.x_markers.size(),
                plot.x_marker_labels.size());
  const float marker_label_size = fonts.tick_label * 0.9f;
  for (size_t k = 0; k < plot.x_markers.size(); ++k) {
    const double x = plot.x_markers[k];
    if (!std::isfinite(x)) continue;
    const float column = static_cast<float>(column_of(x)) + 0.5f;
    figure.draw_line(PointF{column, static_cast<float>(box.y)}, PointF{column, static_cast<float>(box.bottom())},
                     kMarkerColor, kMarkerWidth, kMarkerDash);
    for (int y = box.y; y < box.bottom(); y += 2) drawn.push_back(PointF{column, static_cast<float>(y)});
    if (plot.x_marker_labels.empty() || plot.x_marker_labels[k].empty()) continue;
    // Right of its line, or left of it where the plot ends too soon.
    const TextExtent label = measure_text(plot.x_marker_labels[k], marker_label_size);
    const float length = label.width;
    const bool room_right = column + 4.0f + length <= static_cast<float>(box.right() - 2);
    const float label_x = room_right ? column + 4.0f : column - 4.0f - length, label_y = static_cast<float>(box.y + 4);
    figure.fill_box(label_x - 2, label_y - 1, length + 4, label.height() + 2, kWhite, 0.8f);  // readable over a curve
    figure.draw_text(label_x, label_y, plot.x_marker_labels[k],
                     TextStyle{marker_label_size, kMarkerColor, HAlign::left, VAlign::top});
    for (float dx = 0; dx < length; dx += 2) drawn.push_back(PointF{label_x + dx, label_y + marker_label_size / 2});
  }
  for (size_t s = 0; s < plot.series.size(); ++s) {
    const Series& series = plot.series[s];
    const Rgb color = series.color.value_or(series_color(s));
    std::vector<PointF> points;
    for (size_t i = 0; i < series.x.size(); ++i) {
      const bool ok = std::isfinite(series.x[i]) && std::isfinite(series.y[i]);
      points.push_back(ok ? PointF{to_x(series.x[i]), to_y(series.y[i])} : PointF{NAN, NAN});
    }
    figure.draw_polyline(points, color, series.line_width);
    if (shows_markers(series))
      for (const PointF& p : points) figure.fill_circle(p, series.line_width + 1.5f, color);
    for (size_t i = 0; i < points.size(); ++i) {
      // A gap (a NaN point, such as epoch 0's train loss) has nothing drawn at or beside it.
      if (!std::isfinite(points[i].x)) continue;
      drawn.push_back(points[i]);
      if (i + 1 == points.size() || !std::isfinite(points[i + 1].x)) continue;
      const float dx = points[i + 1].x - points[i].x, dy = points[i + 1].y - points[i].y;
      const int steps = std::min(10000, static_cast<int>(std::sqrt(dx * dx + dy * dy) / 2.0f));
      for (int k = 1; k < steps; ++k) {
        const float t = static_cast<float>(k) / static_cast<float>(steps);
        drawn.push_back(PointF{points[i].x + t * dx, points[i].y + t * dy});
      }
    }
  }
  figure.pop_clip();

  // Frame just outside the box, with outward ticks and their labels.
  figure.frame_rect(box, kFrame);
  const TextStyle x_tick_style{fonts.tick_label, kLabel, HAlign::center, VAlign::top};
  const TextStyle y_tick_style{fonts.tick_label, kLabel, HAlign::right, VAlign::center};
  for (double v : xt.values) {
    const int column = column_of(v);
    figure.fill_rect(Rect{column, box.bottom() + 1, 1, kTickLength}, kFrame);
    figure.draw_text(static_cast<float>(column) + 0.5f, static_cast<float>(box.bottom() + 2 + kTickLength),
                     format_tick(v, xt.step), x_tick_style);
  }
  for (double v : yt.values) {
    const int row = row_of(v);
    figure.fill_rect(Rect{box.x - 1 - kTickLength, row, kTickLength, 1}, kFrame);
    figure.draw_text(static_cast<float>(box.x - 4 - kTickLength), static_cast<float>(row) + 0.5f,
                     format_tick(v, yt.step), y_tick_style);
  }
  const float box_centre_x = static_cast<float>(box.x) + static_cast<float>(box.width) / 2.0f;
  const float box_centre_y = static_cast<float>(box.y) + static_cast<float>(box.height) / 2.0f;
  if (!plot.x_label.empty())
    figure.draw_text(box_centre_x, static_cast<float>(area.bottom() - kPad), plot.x_label,
                     TextStyle{fonts.axis_label, kLabel, HAlign::center, VAlign::bottom});
  if (!plot.y_label.empty())
    figure.draw_text(static_cast<float>(area.x + kPad), box_centre_y, plot.y_label,
                     TextStyle{fonts.axis_label, kLabel, HAlign::center, VAlign::top, true});
  if (!plot.title.empty())
    figure.draw_text(box_centre_x, static_cast<float>(area.y + kPad), plot.title,
                     TextStyle{fonts.title, kBlack, HAlign::center, VAlign::top});

  if (!plot.legend) return;
  std::vector<LegendEntry> entries;
  for (size_t s = 0; s < plot.series.size(); ++s) {
    const Series& series = plot.series[s];
    if (series.name.empty()) continue;
    entries.push_back(LegendEntry{series.name, series.color.value_or(series_color(s)), series.line_width,
                                  shows_markers(series)});
  }
  if (!plot.x_markers.empty() && !plot.x_markers_name.empty())
    entries.push_back(LegendEntry{plot.x_markers_name, kMarkerColor, kMarkerWidth, false, kMarkerDash});
  if (entries.empty()) return;
  const LegendStyle style{fonts.legend, LegendFlow::column};
  const LegendSize size = legend_size(entries, style);

  // The corner (or edge middle) that covers the fewest drawn points, in matplotlib's order of preference.
  const int inset = 10;
  const int lx[3] = {box.right() - inset - size.width, box.x + inset, box.x + (box.width - size.width) / 2};
  const int ly[3] = {box.y + inset, box.bottom() - inset - size.height, box.y + (box.height - size.height) / 2};
  const std::pair<int, int> candidates[] = {{0, 0}, {1, 0}, {1, 1}, {0, 1}, {0, 2}, {1, 2}, {2, 1}, {2, 0}};
  Rect best{};
  size_t best_hidden = std::numeric_limits<size_t>::max();
  for (const auto& [column, row] : candidates) {
    const Rect place{lx[column], ly[row], size.width, size.height};
    const Rect guard{place.x - 4, place.y - 4, place.width + 8, place.height + 8};
    const size_t hidden = static_cast<size_t>(
        std::count_if(drawn.begin(), drawn.end(), [&](const PointF& p) { return guard.contains(p.x, p.y); }));
    if (hidden < best_hidden) best_hidden = hidden, best = place;
  }
  draw_legend(figure, best.x, best.y, entries, style);
}

}  // namespace convlab
