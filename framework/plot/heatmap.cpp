#include "framework/plot/heatmap.h"

#include <algorithm>
#include <cmath>

#include "framework/core/error.h"
#include "framework/plot/colorbar.h"
#include "framework/plot/colormap.h"

namespace convlab {
namespace {

constexpr Rgb kFrame{70, 70, 70};
constexpr Rgb kLabel{30, 30, 30};
constexpr int kPad = 10;
constexpr int kTickLength = 4;
constexpr int kTickGap = 3;       // tick to its label
constexpr int kAxisGap = 8;       // tick labels to the axis title
constexpr int kTitleGap = 10;     // title to the cells
constexpr int kColorbarGap = 18;  // cells to the colour bar
constexpr int kCellInset = 8;     // an annotation leaves this much of its cell's width free
constexpr int kMinWrap = 480;     // titles wrap at the figure's width, but not narrower than this
constexpr size_t kAnnotateUpTo = 12;
constexpr float kTitleSize = 15.0f;
constexpr float kAxisSize = 13.0f;
constexpr float kMinAnnotationSize = 6.5f;  // smaller annotations are left out by default
constexpr float kGoodAnnotationSize = 10.0f;

// The spec checked, with its size and labels filled in.
struct Matrix {
  size_t rows = 0, cols = 0;
  std::vector<std::string> row_labels, col_labels;
  std::vector<std::string> annotations;  // one per cell, "" for NaN
};

std::vector<std::string> numbered(size_t count) {
  std::vector<std::string> labels;
  for (size_t i = 0; i < count; ++i) labels.push_back(std::to_string(i));
  return labels;
}

Matrix check(const HeatmapSpec& spec) {
  Matrix m;
  m.rows = spec.rows ? spec.rows : spec.row_labels.size();
  m.cols = spec.cols ? spec.cols : spec.col_labels.size();
  CONVLAB_CHECK(m.rows > 0 && m.cols > 0, "heatmap '{}' has no rows or no columns: give labels or rows and cols",
                spec.title);
  CONVLAB_CHECK(spec.row_labels.empty() || spec.row_labels.size() == m.rows,
                "heatmap '{}' has {} rows but {} row labels", spec.title, m.rows, spec.row_labels.size());
  CONVLAB_CHECK(spec.col_labels.empty() || spec.col_labels.size() == m.cols,
                "heatmap '{}' has {} columns but {} column labels", spec.title, m.cols, spec.col_labels.size());
  CONVLAB_CHECK(spec.values.size() == m.rows * m.cols, "heatmap '{}' is {} x {} but has {} values", spec.title, m.rows,
                m.cols, spec.values.size());
  CONVLAB_CHECK(spec.stddev.empty() || spec.stddev.size() == spec.values.size(),
                "heatmap '{}' has {} values but {} standard deviations", spec.title, spec.values.size(),
                spec.stddev.size());
  CONVLAB_CHECK(spec.marked.empty() || spec.marked.size() == spec.values.size(),
                "heatmap '{}' has {} values but {} marks", spec.title, spec.values.size(), spec.marked.size());
  for (double s : spec.stddev)
    CONVLAB_CHECK(std::isnan(s) || (std::isfinite(s) && s >= 0), "heatmap '{}' has the standard deviation {}",
                  spec.title, s);
  CONVLAB_CHECK(std::isfinite(spec.vmin) && std::isfinite(spec.vmax) && spec.vmin < spec.vmax,
                "heatmap '{}' colour range [{}, {}] must be finite with vmin < vmax", spec.title, spec.vmin, spec.vmax);
  m.row_labels = spec.row_labels.empty() ? numbered(m.rows) : spec.row_labels;
  m.col_labels = spec.col_labels.empty() ? numbered(m.cols) : spec.col_labels;
  for (size_t k = 0; k < spec.values.size(); ++k)
    m.annotations.push_back(std::isnan(spec.values[k]) ? std::string()
                                                       : heatmap_annotation(spec.values[k], spec.stddev.empty() ? NAN : spec.stddev[k]));
  return m;
}

bool has_missing(const HeatmapSpec& spec) {
  return std::any_of(spec.values.begin(), spec.values.end(), [](double v) { return std::isnan(v); });
}

// The widest annotation's width per unit of font size (widths scale with the size: no hinting).
float annotation_width_per_size(const Matrix& m) {
  constexpr float kProbe = 10.0f;
  float widest = 0;
  for (const std::string& a : m.annotations) widest = std::max(widest, measure_text(a, kProbe).width);
  return widest / kProbe;
}

int widest(const std::vector<std::string>& texts, float size) {
  float width = 0;
  for (const std::string& s : texts) width = std::max(width, measure_text(s, size).width);
  return static_cast<int>(std::ceil(width));
}

int line_height(float size) { return static_cast<int>(std::ceil(measure_text("Ag", size).height())); }

// Where everything goes for one cell size, in figure units from the figure's top-left corner.
// Fonts shrink with the cells so that many layers fit.
struct Layout {
  int cell = 0;
  float label_size = 0, annotation_size = 0;
  bool annotate = false;
  bool vertical_columns = false;  // column labels turned to read upwards
  int col_label_extent = 0;       // how far column labels reach below their ticks
  std::vector<std::string> title_lines, row_axis_lines, col_axis_lines;
  int width = 0, height = 0;  // the whole figure
  int matrix_x = 0, matrix_y = 0;
  int row_axis_x = 0;                   // the left edge of the row axis title
  int row_axis_low = 0, row_axis_high = 0;  // the rows it may cover: below the title, above the edge
  ColorbarStyle bar;
};

Layout lay_out(const HeatmapSpec& spec, const Matrix& m, int cell) {
  Layout l;
  l.cell = cell;
  l.label_size = std::clamp(std::round(0.45f * static_cast<float>(cell)), 7.0f, 12.0f);

  // Annotations as large as the cell allows, up to a size in proportion to it.
  const float per_size = annotation_width_per_size(m);
  const float largest = std::clamp(std::round(0.26f * static_cast<float>(cell)), 6.0f, 11.0f);
  l.annotation_size = per_size > 0 ? std::min(largest, static_cast<float>(cell - kCellInset) / per_size) : largest;
  l.annotate = spec.annotate.value_or(std::max(m.rows, m.cols) <= kAnnotateUpTo && l.annotation_size >= kMinAnnotationSize);
  l.annotation_size = std::max(l.annotation_size, 1.0f);

  const int label_height = line_height(l.label_size);
  const int widest_row = widest(m.row_labels, l.label_size), widest_col = widest(m.col_labels, l.label_size);
  l.vertical_columns = widest_col > cell - 4;
  l.col_label_extent = l.vertical_columns ? widest_col : label_height;

  const int cells_width = static_cast<int>(m.cols) * cell, cells_height = static_cast<int>(m.rows) * cell;
  const int axis_height = line_height(kAxisSize), title_height = line_height(kTitleSize);
  const int bottom_labels = 1 + kTickLength + kTickGap + l.col_label_extent;

  // The row axis title wraps to the height of the cells and their column labels, but only
  // when longer than 320 units: up to that, the figure rather grows (below) than the title
  // breaks into columns of vertical text.
  l.row_axis_lines = wrap_text(spec.row_axis, kAxisSize, static_cast<float>(std::max(cells_height + bottom_labels, 320)));
  const int row_axis_block = static_cast<int>(l.row_axis_lines.size()) * axis_height;
  const int left = kPad + (row_axis_block ? row_axis_block + kAxisGap : 0) + widest_row + kTickLength + kTickGap + 1;
  int right = kPad;
  int overhang = 0;
  if (spec.colorbar) {
    l.bar.tick_size = std::clamp(l.label_size, 9.5f, 11.0f);
    l.bar.label_size = kAxisSize;
    l.bar.missing_note = has_missing(spec);
    right += kColorbarGap + colorbar_width(spec.vmin, spec.vmax, spec.colorbar_label, l.bar);
    overhang = colorbar_overhang(l.bar);  // the end tick labels stand half a line beyond the bar
  }
  const int content_width = left + cells_width + right;

  // The title and the column axis title wrap at the figure's width.
  const float wrap = static_cast<float>(std::max(content_width - 2 * kPad, kMinWrap));
  l.title_lines = wrap_text(spec.title, kTitleSize, wrap);
  l.col_axis_lines = wrap_text(spec.col_axis, kAxisSize, wrap);
  l.width = std::max({content_width, widest(l.title_lines, kTitleSize) + 2 * kPad,
                      widest(l.col_axis_lines, kAxisSize) + 2 * kPad});

  const int title_bottom = l.title_lines.empty() ? 0 : kPad + static_cast<int>(l.title_lines.size()) * title_height;
  const int top = l.title_lines.empty() ? std::max(kPad, overhang) : title_bottom + std::max(kTitleGap, overhang + 2);
  const int col_axis_block = static_cast<int>(l.col_axis_lines.size()) * axis_height;
  const int bottom = std::max(bottom_labels + (col_axis_block ? kAxisGap + col_axis_block : 0), overhang) + kPad;
  l.height = top + cells_height + bottom;

  // The row axis title runs beside the cells between the title and the bottom edge; where it
  // is longer, the figure grows and the cells move down by half the growth.
  l.row_axis_low = l.title_lines.empty() ? kPad : title_bottom + kTitleGap;
  const int row_axis_length = widest(l.row_axis_lines, kAxisSize);
  const int grow = std::max(0, row_axis_length - (l.height - kPad - l.row_axis_low));
  l.height += grow;
  l.row_axis_high = l.height - kPad;

  const int shift_x = (l.width - content_width) / 2;  // the content centred under a wider title
  l.matrix_x = shift_x + left;
  l.matrix_y = top + grow / 2;
  l.row_axis_x = shift_x + kPad;
  return l;
}

// The largest cell size whose figure fits max_width x max_height (0: unbounded).
Layout fit(const HeatmapSpec& spec, const Matrix& m, int max_width, int max_height) {
  int cell = 1 << 12;
  if (max_width > 0) cell = std::min(cell, max_width / static_cast<int>(m.cols));
  if (max_height > 0) cell = std::min(cell, max_height / static_cast<int>(m.rows));
  for (; cell >= 3; --cell) {
    const Layout l = lay_out(spec, m, cell);
    if ((max_width <= 0 || l.width <= max_width) && (max_height <= 0 || l.height <= max_height)) return l;
  }
  CONVLAB_FAIL("a {}x{} area is too small for the {} x {} heatmap '{}'", max_width, max_height, m.rows, m.cols,
               spec.title);
}

// A text's centre kept inside [low, high] as far as its length allows.
float keep_inside(float centre, float length, float low, float high) {
  return std::clamp(centre, low + length / 2.0f, std::max(low + length / 2.0f, high - length / 2.0f));
}

Rect draw_laid_out(Figure& figure, const Rect& area, const HeatmapSpec& spec, const Matrix& m, const Layout& l) {
  const int x0 = area.x + std::max(0, (area.width - l.width) / 2);
  const int y0 = area.y + std::max(0, (area.height - l.height) / 2);
  const int cell = l.cell;
  const Rect matrix{x0 + l.matrix_x, y0 + l.matrix_y, static_cast<int>(m.cols) * cell, static_cast<int>(m.rows) * cell};

  for (size_t i = 0; i < m.rows; ++i)
    for (size_t j = 0; j < m.cols; ++j) {
      const double v = spec.values[i * m.cols + j];
      const Rect rect{matrix.x + static_cast<int>(j) * cell, matrix.y + static_cast<int>(i) * cell, cell, cell};
      if (std::isnan(v)) {
        fill_missing(figure, rect);
        continue;
      }
      const Rgb color = viridis(static_cast<float>((v - spec.vmin) / (spec.vmax - spec.vmin)));
      // Each cell reaches half a unit under its right and lower neighbours, which paint over
      // it: no hairline seams between cells in PDF and SVG viewers that anti-alias edges.
      const float reach_x = j + 1 < m.cols ? 0.5f : 0.0f, reach_y = i + 1 < m.rows ? 0.5f : 0.0f;
      figure.fill_box(rect.x, rect.y, cell + reach_x, cell + reach_y, color);
      if (!spec.marked.empty() && spec.marked[i * m.cols + j]) {
        const int side = std::max(3, cell / 6);
        figure.fill_rect(Rect{rect.x + cell - side - 2, rect.y + 2, side, side}, Rgb{235, 235, 235});
        figure.frame_rect(Rect{rect.x + cell - side - 2, rect.y + 2, side, side}, Rgb{60, 60, 60});
      }
      if (!l.annotate) continue;
      const Rgb ink = luma(color) < 128.0f ? kWhite : Rgb{20, 20, 20};
      figure.draw_text(static_cast<float>(rect.x) + cell / 2.0f, static_cast<float>(rect.y) + cell / 2.0f,
                       m.annotations[i * m.cols + j], TextStyle{l.annotation_size, ink, HAlign::center, VAlign::center});
    }
  figure.frame_rect(matrix, kFrame);

  // Ticks at the cell centres, labels beside them.
  const TextStyle row_style{l.label_size, kLabel, HAlign::right, VAlign::center};
  for (size_t i = 0; i < m.rows; ++i) {
    const int row = matrix.y + static_cast<int>(i) * cell + cell / 2;
    figure.fill_rect(Rect{matrix.x - 1 - kTickLength, row, kTickLength, 1}, kFrame);
    figure.draw_text(static_cast<float>(matrix.x - 1 - kTickLength - kTickGap), static_cast<float>(row) + 0.5f,
                     m.row_labels[i], row_style);
  }
  const float label_top = static_cast<float>(matrix.bottom() + 1 + kTickLength + kTickGap);
  const TextStyle col_style = l.vertical_columns ? TextStyle{l.label_size, kLabel, HAlign::right, VAlign::center, true}
                                                 : TextStyle{l.label_size, kLabel, HAlign::center, VAlign::top};
  for (size_t j = 0; j < m.cols; ++j) {
    const int column = matrix.x + static_cast<int>(j) * cell + cell / 2;
    figure.fill_rect(Rect{column, matrix.bottom() + 1, 1, kTickLength}, kFrame);
    figure.draw_text(static_cast<float>(column) + 0.5f, label_top, m.col_labels[j], col_style);
  }

  const float centre_x = static_cast<float>(matrix.x) + static_cast<float>(matrix.width) / 2.0f;
  const float centre_y = static_cast<float>(matrix.y) + static_cast<float>(matrix.height) / 2.0f;
  const float left_edge = static_cast<float>(x0 + kPad), right_edge = static_cast<float>(x0 + l.width - kPad);
  const float title_height = static_cast<float>(line_height(kTitleSize));
  const float axis_height = static_cast<float>(line_height(kAxisSize));
  for (size_t k = 0; k < l.title_lines.size(); ++k) {
    const float x = keep_inside(centre_x, measure_text(l.title_lines[k], kTitleSize).width, left_edge, right_edge);
    figure.draw_text(x, static_cast<float>(y0 + kPad) + static_cast<float>(k) * title_height, l.title_lines[k],
                     TextStyle{kTitleSize, kBlack, HAlign::center, VAlign::top});
  }
  const float col_axis_top = label_top + static_cast<float>(l.col_label_extent + kAxisGap);
  for (size_t k = 0; k < l.col_axis_lines.size(); ++k) {
    const float x = keep_inside(centre_x, measure_text(l.col_axis_lines[k], kAxisSize).width, left_edge, right_edge);
    figure.draw_text(x, col_axis_top + static_cast<float>(k) * axis_height, l.col_axis_lines[k],
                     TextStyle{kAxisSize, kLabel, HAlign::center, VAlign::top});
  }
  for (size_t k = 0; k < l.row_axis_lines.size(); ++k) {
    const float y = keep_inside(centre_y, measure_text(l.row_axis_lines[k], kAxisSize).width,
                                static_cast<float>(y0 + l.row_axis_low), static_cast<float>(y0 + l.row_axis_high));
    figure.draw_text(static_cast<float>(x0 + l.row_axis_x) + static_cast<float>(k) * axis_height, y, l.row_axis_lines[k],
                     TextStyle{kAxisSize, kLabel, HAlign::center, VAlign::top, true});
  }
  if (spec.colorbar)
    draw_colorbar(figure, matrix.right() + 1 + kColorbarGap, matrix.y, matrix.bottom(), spec.vmin, spec.vmax,
                  spec.colorbar_label, l.bar);
  return matrix;
}

// About 600 units of cells, but cells no smaller than 20 or larger than 64 units; larger,
// up to 96, where that lets the annotations (with their ± parts) be read comfortably.
int preferred_cell(const Matrix& m) {
  const int n = static_cast<int>(std::max(m.rows, m.cols));
  int cell = std::clamp(600 / n, 20, 64);
  if (static_cast<size_t>(n) <= kAnnotateUpTo) {
    const int readable = static_cast<int>(std::ceil(kGoodAnnotationSize * annotation_width_per_size(m))) + kCellInset;
    cell = std::max(cell, std::min(readable, 96));
  }
  return cell;
}

}  // namespace

std::string heatmap_annotation(double value, double stddev) {
  auto two_decimals = [](double v) {
    std::string text = fmt::format("{:.2f}", v);
    if (text == "-0.00") text.erase(0, 1);
    return text;
  };
  if (std::isnan(value)) return "n/a";
  return std::isnan(stddev) ? two_decimals(value) : two_decimals(value) + " \u00b1 " + two_decimals(stddev);
}

Rect draw_heatmap(Figure& figure, const Rect& area, const HeatmapSpec& spec) {
  const Matrix m = check(spec);
  return draw_laid_out(figure, area, spec, m, fit(spec, m, area.width, area.height));
}

HeatmapSize heatmap_size(const HeatmapSpec& spec, int cell) {
  CONVLAB_CHECK(cell >= 1, "heatmap cell size must be positive, got {}", cell);
  const Layout l = lay_out(spec, check(spec), cell);
  return HeatmapSize{l.width, l.height};
}

Figure heatmap_figure(const HeatmapSpec& spec, int width, int height) {
  CONVLAB_CHECK(width >= 0 && height >= 0, "heatmap size {}x{} must not be negative", width, height);
  const Matrix m = check(spec);
  const Layout l = width == 0 && height == 0 ? lay_out(spec, m, preferred_cell(m)) : fit(spec, m, width, height);
  Figure figure(width ? width : l.width, height ? height : l.height);
  figure.set_title(spec.title);
  draw_laid_out(figure, Rect{0, 0, figure.width(), figure.height()}, spec, m, l);
  return figure;
}

void plot_heatmap(const HeatmapSpec& spec, const std::filesystem::path& file, int width, int height) {
  heatmap_figure(spec, width, height).write(file);
}

std::vector<std::filesystem::path> save_heatmap(const HeatmapSpec& spec, const std::filesystem::path& stem,
                                                const FigureFormats& formats) {
  return heatmap_figure(spec).save(stem, formats);
}

}  // namespace convlab
