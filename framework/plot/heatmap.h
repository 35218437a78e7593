// Heatmaps of a matrix of values in a known range, such as the CKA similarity between the
// layers of two networks: one square cell per value coloured with viridis, row 0 at the top
// (like matplotlib's imshow), row labels on the left, column labels below, a colour bar and
// optionally each value written in its cell.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "framework/plot/canvas.h"

namespace convlab {

struct HeatmapSpec {
  std::string title;
  std::string row_axis, col_axis;  // axis titles, e.g. "network A layer"
  std::string colorbar_label = "CKA";
  // One label per row / column. With no labels the rows and columns are numbered from 0 and
  // the size comes from rows / cols.
  std::vector<std::string> row_labels, col_labels;
  size_t rows = 0, cols = 0;   // 0: the number of labels
  std::vector<double> values;  // row-major, rows x cols; NaN is drawn hatched, marked "n/a"
  // Optional, rows x cols: a standard deviation per cell, annotated as "0.82 ± 0.01".
  std::vector<double> std_devs;
  double vmin = 0, vmax = 1;   // the colour range; values outside it get the end colours
  // Each value written in its cell with 2 decimals; by default when the matrix is at most
  // 12 x 12 and the cells are big enough for the text.
  std::optional<bool> annotate;
  bool colorbar = true;  // off for panels that share one colour bar
};

// Draws the heatmap as large as fits in area, centred, and returns the rectangle of the
// cells (each matrix.width / cols pixels square). Throws when the spec is inconsistent or
// area is too small.
Rect draw_heatmap(Canvas& canvas, const Rect& area, const HeatmapSpec& spec);

// The heatmap on a canvas of its own. With width and height 0 the cell size is chosen from
// the matrix size (about 600 pixels of cells); a non-zero width or height fixes that side and
// the cells are fitted to it.
Canvas heatmap_canvas(const HeatmapSpec& spec, int width = 0, int height = 0);

// The same, written to png.
void plot_heatmap(const HeatmapSpec& spec, const std::filesystem::path& png, int width = 0, int height = 0);

// The size a heatmap takes with square cells of cell pixels: what heatmap_canvas uses, and
// what a grid of panels lays out with.
struct HeatmapSize {
  int width = 0, height = 0;
};
HeatmapSize heatmap_size(const HeatmapSpec& spec, int cell);

}  // namespace convlab
