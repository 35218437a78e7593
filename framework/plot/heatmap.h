// Heatmaps of a matrix of values in a known range, such as the CKA similarity between the
// layers of two networks: one square cell per value coloured with viridis, row 0 at the top
// (like matplotlib's imshow), row labels on the left, column labels below, a colour bar and
// optionally each value (with its standard deviation, when known) written in its cell.
// Every margin is computed from the measured text it holds; long titles and axis titles are
// wrapped, and the figure grows rather than let two texts overlap.
#pragma once

#include <cmath>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "framework/plot/figure.h"

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
  // Empty, or one standard deviation per value (row-major, >= 0; NaN: unknown): the
  // annotations then read "0.82 ± 0.01", in a font sized to fit the cell.
  std::vector<double> stddev;
  // Empty, or one flag per value: cells whose flag is set carry a small light square in their
  // top-right corner (a permutation test found them not significant).
  std::vector<bool> marked;
  double vmin = 0, vmax = 1;  // the colour range; values outside it get the end colours
  // Each value written in its cell with 2 decimals; by default when the matrix is at most
  // 12 x 12 and the text fits the cells at a readable size.
  std::optional<bool> annotate;
  bool colorbar = true;  // off for panels that share one colour bar
};

// Draws the heatmap as large as fits in area, centred, and returns the rectangle of the
// cells (each matrix.width / cols units square). Throws when the spec is inconsistent or
// area is too small.
Rect draw_heatmap(Figure& figure, const Rect& area, const HeatmapSpec& spec);

// The heatmap as a figure of its own. With width and height 0 the cell size is chosen from
// the matrix size (about 600 units of cells); a non-zero width or height fixes that side and
// the cells are fitted to it.
Figure heatmap_figure(const HeatmapSpec& spec, int width = 0, int height = 0);

// The same, written to file in the format its extension names (.png, .pdf, .svg).
void plot_heatmap(const HeatmapSpec& spec, const std::filesystem::path& file, int width = 0, int height = 0);

// The same, as stem.png, stem.pdf, ... for each of formats; returns the paths.
std::vector<std::filesystem::path> save_heatmap(const HeatmapSpec& spec, const std::filesystem::path& stem,
                                                const FigureFormats& formats = {FigureFormat::png});

// The size a heatmap takes with square cells of cell units: what heatmap_figure uses, and
// what a grid of panels lays out with.
struct HeatmapSize {
  int width = 0, height = 0;
};
HeatmapSize heatmap_size(const HeatmapSpec& spec, int cell);

// A cell's annotation: "0.82", or "0.82 ± 0.01" with a standard deviation.
std::string heatmap_annotation(double value, double stddev = NAN);

}  // namespace convlab
