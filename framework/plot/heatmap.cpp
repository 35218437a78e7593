#include "framework/plot/heatmap.h"

#include <algorithm>
#include <cmath>

#include "framework/core/error.h"
#include "framework/plot/colorbar.h"
#include "framework/plot/colormap.h"
#include "framework/plot/text.h"

namespace convlab {
namespace {

constexpr Rgb kFrame{70, 70, 70};
constexpr Rgb kLabel{30, 30, 30};
constexpr int kPad = 10;
constexpr int kTickLength = 4;
constexpr int kTickGap = 3;       // tick to its label
constexpr int kAxisGap = 8;       // tick labels to the axis title
constexpr int kColorbarGap = 18;  // cells to the colour bar
constexpr size_t kAnnotateUpTo = 12;
constexpr float kTitleSize = 18.0f;
constexpr float kAxisSize = 15.0f;

// The spec checked, with its size and labels filled in.
struct Matrix {
  size_t rows = 0, cols = 0;
  std::vector<std::string> row_labels, col_labels;
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
  CONVLAB_CHECK(spec.std_devs.empty() || spec.std_devs.size() == spec.values.size(),
                "heatmap '{}' has {} values but {} standard deviations", spec.title, spec.values.size(),
                spec.std_devs.size());
  CONVLAB_CHECK(std::isfinite(spec.vmin) && std::isfinite(spec.vmax) && spec.vmin < spec.vmax,
                "heatmap '{}' colour range [{}, {}] must be finite with vmin < vmax", spec.title, spec.vmin, spec.vmax);
  m.row_labels = spec.row_labels.empty() ? numbered(m.rows) : spec.row_labels;
  m.col_labels = spec.col_labels.empty() ? numbered(m.cols) : spec.col_labels;
  return m;
}

std::string annotation(double value) {
  std::string text = fmt::format("{:.2f}", value);
  if (text == "-0.00") text.erase(0, 1);
  return text;
}

// Cell `index`'s text: the value, and with standard deviations "0.82 ± 0.01".
std::string annotation(const HeatmapSpec& spec, size_t index) {
  std::string text = annotation(spec.values[index]);
  if (!spec.std_devs.empty() && std::isfinite(spec.std_devs[index]))
    text += " \u00b1 " + annotation(spec.std_devs[index]);
  return text;
}

bool has_missing(const HeatmapSpec& spec) {
  return std::any_of(spec.values.begin(), spec.values.end(), [](double v) { return std::isnan(v); });
}

// Sizes and margins for one cell size: fonts shrink with the cells so that many layers fit.
struct Layout {
  int cell = 0;
  float label_size = 0, annotation_size = 0;
  bool annotate = false;
  bool vertical_columns = false;                 // column labels turned to read upwards
  int col_label_extent = 0;                      // how far column labels reach below their ticks
  int left = 0, top = 0, right = 0, bottom = 0;  // margins around the cells
  int width = 0, height = 0;                     // the whole figure
  int shift_x = 0, shift_y = 0;                  // the cells and margins centred in room made for long titles
  ColorbarStyle bar;
};

Layout lay_out(const HeatmapSpec& spec, const Matrix& m, int cell) {
  Layout l;
  l.cell = cell;
  // Labels a row apart need about their size plus a few pixels.
  l.label_size = std::clamp(std::round(0.55f * static_cast<float>(cell)), 8.0f, 14.0f);
  l.annotation_size = std::clamp(std::round(0.3f * static_cast<float>(cell)), 7.0f, 13.0f);

  float widest_annotation = 0;
  for (size_t i = 0; i < spec.values.size(); ++i)
    if (!std::isnan(spec.values[i]))
      widest_annotation = std::max(widest_annotation, measure_text(annotation(spec, i), l.annotation_size).width);
  const bool fits = l.annotation_size >= 9.0f && widest_annotation <= static_cast<float>(cell - 6);
  l.annotate = spec.annotate.value_or(std::max(m.rows, m.cols) <= kAnnotateUpTo && fits);

  const TextExtent label_extent = measure_text("Ag", l.label_size);
  float widest_row = 0, widest_col = 0;
  for (const std::string& s : m.row_labels) widest_row = std::max(widest_row, measure_text(s, l.label_size).width);
  for (const std::string& s : m.col_labels) widest_col = std::max(widest_col, measure_text(s, l.label_size).width);
  l.vertical_columns = widest_col > static_cast<float>(cell - 4);
  l.col_label_extent = static_cast<int>(std::ceil(l.vertical_columns ? widest_col : label_extent.height()));

  const int axis_height = static_cast<int>(std::ceil(measure_text("Ag", kAxisSize).height()));
  const int title_height = static_cast<int>(std::ceil(measure_text("Ag", kTitleSize).height()));
  l.left = kPad + (spec.row_axis.empty() ? 0 : axis_height + kAxisGap) + static_cast<int>(std::ceil(widest_row)) +
           kTickLength + kTickGap + 1;
  l.top = kPad + (spec.title.empty() ? 0 : title_height + 10);
  l.bottom =
      1 + kTickLength + kTickGap + l.col_label_extent + (spec.col_axis.empty() ? 0 : kAxisGap + axis_height) + kPad;
  l.right = kPad;
  if (spec.colorbar) {
    l.bar.tick_size = std::clamp(l.label_size, 11.0f, 13.0f);
    l.bar.label_size = kAxisSize;
    l.bar.missing_note = has_missing(spec);
    l.right += kColorbarGap + colorbar_width(spec.vmin, spec.vmax, spec.colorbar_label, l.bar);
    // The end tick labels stand half a line above and below the bar.
    const int overhang = static_cast<int>(std::ceil(measure_text("0", l.bar.tick_size).height() / 2)) + 2;
    l.top = std::max(l.top, overhang);
    l.bottom = std::max(l.bottom, overhang);
  }
  const int cells_width = static_cast<int>(m.cols) * cell, cells_height = static_cast<int>(m.rows) * cell;
  const int content_width = l.left + cells_width + l.right, content_height = l.top + cells_height + l.bottom;
  l.width = content_width;
  l.height = content_height;
  // Room for a title or axis title longer than the cells are wide or tall.
  if (!spec.title.empty())
    l.width = std::max(l.width, static_cast<int>(std::ceil(measure_text(spec.title, kTitleSize).width)) + 2 * kPad);
  if (!spec.col_axis.empty())
    l.width = std::max(l.width, static_cast<int>(std::ceil(measure_text(spec.col_axis, kAxisSize).width)) + 2 * kPad);
  if (!spec.row_axis.empty())
    l.height = std::max(l.height, static_cast<int>(std::ceil(measure_text(spec.row_axis, kAxisSize).width)) + 2 * kPad);
  l.shift_x = (l.width - content_width) / 2;
  l.shift_y = (l.height - content_height) / 2;
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

// A text's centre kept inside [low, high] as far as its width allows.
float keep_inside(float centre, float width, float low, float high) {
  return std::clamp(centre, low + width / 2.0f, std::max(low + width / 2.0f, high - width / 2.0f));
}

Rect draw_laid_out(Canvas& canvas, const Rect& area, const HeatmapSpec& spec, const Matrix& m, const Layout& l) {
  const int x0 = area.x + std::max(0, (area.width - l.width) / 2);
  const int y0 = area.y + std::max(0, (area.height - l.height) / 2);
  const int cell = l.cell;
  const Rect matrix{x0 + l.shift_x + l.left, y0 + l.shift_y + l.top, static_cast<int>(m.cols) * cell,
                    static_cast<int>(m.rows) * cell};

  const TextStyle dark_text{l.annotation_size, kWhite, HAlign::center, VAlign::center};
  const TextStyle light_text{l.annotation_size, Rgb{20, 20, 20}, HAlign::center, VAlign::center};
  for (size_t i = 0; i < m.rows; ++i)
    for (size_t j = 0; j < m.cols; ++j) {
      const double v = spec.values[i * m.cols + j];
      const Rect rect{matrix.x + static_cast<int>(j) * cell, matrix.y + static_cast<int>(i) * cell, cell, cell};
      if (std::isnan(v)) {
        fill_missing(canvas, rect);
        continue;
      }
      const Rgb color = viridis(static_cast<float>((v - spec.vmin) / (spec.vmax - spec.vmin)));
      canvas.fill_rect(rect, color);
      if (!l.annotate) continue;
      const float luma = 0.299f * color.r + 0.587f * color.g + 0.114f * color.b;
      draw_text(canvas, static_cast<float>(rect.x) + cell / 2.0f, static_cast<float>(rect.y) + cell / 2.0f,
                annotation(spec, i * m.cols + j), luma < 128.0f ? dark_text : light_text);
    }
  canvas.stroke_rect(Rect{matrix.x - 1, matrix.y - 1, matrix.width + 2, matrix.height + 2}, kFrame);

  // Ticks at the cell centres, labels beside them.
  const TextStyle row_style{l.label_size, kLabel, HAlign::right, VAlign::center};
  for (size_t i = 0; i < m.rows; ++i) {
    const int row = matrix.y + static_cast<int>(i) * cell + cell / 2;
    canvas.fill_rect(Rect{matrix.x - 1 - kTickLength, row, kTickLength, 1}, kFrame);
    draw_text(canvas, static_cast<float>(matrix.x - 1 - kTickLength - kTickGap), static_cast<float>(row) + 0.5f,
              m.row_labels[i], row_style);
  }
  const float label_top = static_cast<float>(matrix.bottom() + 1 + kTickLength + kTickGap);
  const TextStyle col_style = l.vertical_columns ? TextStyle{l.label_size, kLabel, HAlign::right, VAlign::center, true}
                                                 : TextStyle{l.label_size, kLabel, HAlign::center, VAlign::top};
  for (size_t j = 0; j < m.cols; ++j) {
    const int column = matrix.x + static_cast<int>(j) * cell + cell / 2;
    canvas.fill_rect(Rect{column, matrix.bottom() + 1, 1, kTickLength}, kFrame);
    draw_text(canvas, static_cast<float>(column) + 0.5f, label_top, m.col_labels[j], col_style);
  }

  const float centre_x = static_cast<float>(matrix.x) + static_cast<float>(matrix.width) / 2.0f;
  const float centre_y = static_cast<float>(matrix.y) + static_cast<float>(matrix.height) / 2.0f;
  const float left_edge = static_cast<float>(x0 + kPad), right_edge = static_cast<float>(x0 + l.width - kPad);
  if (!spec.title.empty()) {
    const float x = keep_inside(centre_x, measure_text(spec.title, kTitleSize).width, left_edge, right_edge);
    draw_text(canvas, x, static_cast<float>(y0 + l.shift_y + kPad), spec.title,
              TextStyle{kTitleSize, kBlack, HAlign::center, VAlign::top});
  }
  if (!spec.col_axis.empty()) {
    const float x = keep_inside(centre_x, measure_text(spec.col_axis, kAxisSize).width, left_edge, right_edge);
    draw_text(canvas, x, label_top + static_cast<float>(l.col_label_extent + kAxisGap), spec.col_axis,
              TextStyle{kAxisSize, kLabel, HAlign::center, VAlign::top});
  }
  if (!spec.row_axis.empty()) {
    const float y = keep_inside(centre_y, measure_text(spec.row_axis, kAxisSize).width, static_cast<float>(y0 + kPad),
                                static_cast<float>(y0 + l.height - kPad));
    draw_text(canvas, static_cast<float>(x0 + l.shift_x + kPad), y, spec.row_axis,
              TextStyle{kAxisSize, kLabel, HAlign::center, VAlign::top, true});
  }
  if (spec.colorbar)
    draw_colorbar(canvas, matrix.right() + 1 + kColorbarGap, matrix.y, matrix.bottom(), spec.vmin, spec.vmax,
                  spec.colorbar_label, l.bar);
  return matrix;
}

// About 600 pixels of cells, but cells no smaller than 20 or larger than 64 pixels; wider
// where a small matrix's "0.82 ± 0.01" annotations need it.
int preferred_cell(const HeatmapSpec& spec, const Matrix& m) {
  const int cell = std::clamp(600 / static_cast<int>(std::max(m.rows, m.cols)), 20, 64);
  if (spec.std_devs.empty() || std::max(m.rows, m.cols) > kAnnotateUpTo || spec.annotate == false) return cell;
  for (int wider = cell; wider <= 2 * cell; wider += 2)
    if (lay_out(spec, m, wider).annotate) return wider;
  return cell;
}

}  // namespace

Rect draw_heatmap(Canvas& canvas, const Rect& area, const HeatmapSpec& spec) {
  const Matrix m = check(spec);
  return draw_laid_out(canvas, area, spec, m, fit(spec, m, area.width, area.height));
}

HeatmapSize heatmap_size(const HeatmapSpec& spec, int cell) {
  CONVLAB_CHECK(cell >= 1, "heatmap cell size must be positive, got {}", cell);
  const Layout l = lay_out(spec, check(spec), cell);
  return HeatmapSize{l.width, l.height};
}

Canvas heatmap_canvas(const HeatmapSpec& spec, int width, int height) {
  CONVLAB_CHECK(width >= 0 && height >= 0, "heatmap size {}x{} must not be negative", width, height);
  const Matrix m = check(spec);
  const Layout l = width == 0 && height == 0 ? lay_out(spec, m, preferred_cell(spec, m)) : fit(spec, m, width, height);
  Canvas canvas(width ? width : l.width, height ? height : l.height);
  draw_laid_out(canvas, Rect{0, 0, canvas.width(), canvas.height()}, spec, m, l);
  return canvas;
}

void plot_heatmap(const HeatmapSpec& spec, const std::filesystem::path& png, int width, int height) {
  heatmap_canvas(spec, width, height).save_png(png);
}

}  // namespace convlab
