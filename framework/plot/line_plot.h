// Line plots on a Figure: a framed plot area with round-number ticks, grid, tick labels, axis
// labels, a title, any number of named series, dashed vertical markers (events such as a
// learning-rate drop) and a legend placed where it hides the least data.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "framework/plot/figure.h"

namespace convlab {

struct Series {
  std::string name;  // shown in the legend; an empty name leaves the series out of it
  std::vector<double> x, y;
  std::optional<Rgb> color;  // default: series_color(index in the plot)
  float line_width = 2.0f;
  // Dots at the data points; by default only when the series has few points.
  std::optional<bool> markers;
};

struct LinePlot {
  std::string title, x_label, y_label;
  std::vector<Series> series;
  // Fixed axis limits; a limit left empty is fitted to the data with a 4% margin.
  std::optional<double> x_min, x_max, y_min, y_max;
  bool x_integer_ticks = false;  // ticks at whole numbers only (epochs)
  bool legend = true;
  // Dashed vertical lines across the plot at these x values, drawn under the series, their
  // legend entry (none when the name is empty) and, optionally, one small label per line
  // written at its top (e.g. the new learning rate).
  std::vector<double> x_markers;
  std::string x_markers_name;
  std::vector<std::string> x_marker_labels;
};

struct PlotFonts {
  float title = 15.0f;
  float axis_label = 13.0f;
  float tick_label = 11.5f;
  float legend = 12.0f;
};

// The look of the x markers, for legends drawn elsewhere.
inline constexpr Rgb kMarkerColor{110, 110, 110};
inline constexpr float kMarkerWidth = 1.25f;
inline constexpr float kMarkerDash = 5.0f;

// Whether a series gets dots at its points.
bool shows_markers(const Series& series);

// Draws plot into area of figure. Points with a non-finite coordinate break their line.
void draw_line_plot(Figure& figure, const Rect& area, const LinePlot& plot, const PlotFonts& fonts = {});

}  // namespace convlab
