// The colour key of a heatmap: a vertical viridis bar with round-number ticks and a label,
// and, when some values are missing, a hatched swatch marked "n/a" below it.
#pragma once

#include <string>

#include "framework/plot/canvas.h"

namespace convlab {

struct ColorbarStyle {
  float tick_size = 13.0f;
  float label_size = 15.0f;
  int bar_width = 18;
  bool missing_note = false;  // the "n/a" swatch for NaN cells
};

// How wide the key is: the bar, its ticks, tick labels and the rotated label.
int colorbar_width(double vmin, double vmax, const std::string& label, const ColorbarStyle& style = {});

// Draws the key with its left edge at x over rows [top, bottom): vmin at the bottom, vmax at
// the top, like the heatmap's colours.
void draw_colorbar(Canvas& canvas, int x, int top, int bottom, double vmin, double vmax, const std::string& label,
                   const ColorbarStyle& style = {});

// Paints rect as missing data: light grey with dark diagonal hatching. The hatching follows
// the canvas grid, so neighbouring missing cells join up.
void fill_missing(Canvas& canvas, const Rect& rect);

}  // namespace convlab
