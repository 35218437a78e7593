// Legends: a sample of each line (solid or dashed, with or without a dot) and its label,
// stacked in a box (inside a plot) or flowing in rows (under a figure).
#pragma once

#include <string>
#include <vector>

#include "framework/plot/figure.h"

namespace convlab {

struct LegendEntry {
  std::string label;
  Rgb color;
  float line_width = 2.0f;
  bool marker = false;  // a dot on the sample, as on the series
  float dash = 0.0f;    // > 0: a dashed sample (Figure::draw_line)
};

enum class LegendFlow {
  column,  // one entry a line, in a framed, nearly opaque box
  rows,    // entries side by side, wrapped into rows no wider than max_width, unframed
};

struct LegendStyle {
  float font_size = 12.0f;
  LegendFlow flow = LegendFlow::column;
  int max_width = 0;  // rows only: 0 = one row
};

struct LegendSize {
  int width = 0, height = 0;
};

LegendSize legend_size(const std::vector<LegendEntry>& entries, const LegendStyle& style = {});

// Draws the legend with its top-left corner at (x, y).
void draw_legend(Figure& figure, int x, int y, const std::vector<LegendEntry>& entries, const LegendStyle& style = {});

}  // namespace convlab
