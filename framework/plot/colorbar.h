// The colour key of a heatmap: a vertical viridis bar with round-number ticks (as many as its
// height leaves room for) and a label,
// and, when some values are missing, a hatched swatch marked "n/a" below it.
#pragma once

#include <string>

#include "framework/plot/figure.h"

namespace convlab {

struct ColorbarStyle {
  float tick_size = 11.0f;
  float label_size = 13.0f;
  int bar_width = 18;
  bool missing_note = false;  // the "n/a" swatch for NaN cells
};

// How wide the key is: the bar, its ticks, tick labels and the rotated label.
int colorbar_width(double vmin, double vmax, const std::string& label, const ColorbarStyle& style = {});

// How far the end tick labels reach above the bar's top and below its bottom.
int colorbar_overhang(const ColorbarStyle& style = {});

// Draws the key with its left edge at x over rows [top, bottom): vmin at the bottom, vmax at
// the top, like the heatmap's colours.
void draw_colorbar(Figure& figure, int x, int top, int bottom, double vmin, double vmax, const std::string& label,
                   const ColorbarStyle& style = {});

// Paints rect as missing data: light grey with dark diagonal hatching that joins up across
// neighbouring missing cells.
void fill_missing(Figure& figure, const Rect& rect);

}  // namespace convlab
