// Line plots on a Canvas: a framed plot area with round-number ticks, grid, tick labels, axis
// labels, a title, any number of named series and a legend placed where it hides the least data.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "framework/plot/canvas.h"

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
};

struct PlotFonts {
  float title = 19.0f;
  float axis_label = 16.0f;
  float tick_label = 14.0f;
  float legend = 14.0f;
};

// Draws plot into area of canvas. Points with a non-finite coordinate break their line.
void draw_line_plot(Canvas& canvas, const Rect& area, const LinePlot& plot, const PlotFonts& fonts = {});

}  // namespace convlab
