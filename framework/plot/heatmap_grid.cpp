#include "framework/plot/heatmap_grid.h"

#include <algorithm>
#include <cmath>

#include "framework/core/error.h"
#include "framework/plot/colorbar.h"

namespace convlab {
namespace {

constexpr int kPad = 12;
constexpr int kColorbarGap = 22;
constexpr float kTitleSize = 17.0f;

}  // namespace

Figure heatmap_grid_figure(const std::vector<HeatmapSpec>& panels, int columns, const std::string& title) {
  CONVLAB_CHECK(!panels.empty(), "no heatmaps to put in the grid '{}'", title);
  CONVLAB_CHECK(columns >= 1, "a heatmap grid needs at least one column, got {}", columns);
  const HeatmapSpec& first = panels.front();
  std::vector<HeatmapSpec> bare = panels;  // the panels without colour bars of their own
  size_t largest = 0;
  bool missing = false;
  for (HeatmapSpec& panel : bare) {
    CONVLAB_CHECK(panel.vmin == first.vmin && panel.vmax == first.vmax,
                  "heatmap grid '{}': panel '{}' has colour range [{}, {}] but the first has [{}, {}]", title,
                  panel.title, panel.vmin, panel.vmax, first.vmin, first.vmax);
    panel.colorbar = false;
    const size_t rows = panel.rows ? panel.rows : panel.row_labels.size();
    const size_t cols = panel.cols ? panel.cols : panel.col_labels.size();
    largest = std::max({largest, rows, cols});
    missing = missing || std::any_of(panel.values.begin(), panel.values.end(), [](double v) { return std::isnan(v); });
  }
  CONVLAB_CHECK(largest > 0, "heatmap grid '{}' has a panel with no rows or columns", title);

  // Smaller cells than a single heatmap's, so that a few panels fit on a screen.
  const int cell = std::clamp(380 / static_cast<int>(largest), 16, 44);
  int panel_width = 0, panel_height = 0;
  for (const HeatmapSpec& panel : bare) {
    const HeatmapSize size = heatmap_size(panel, cell);
    panel_width = std::max(panel_width, size.width);
    panel_height = std::max(panel_height, size.height);
  }
  const int count = static_cast<int>(panels.size());
  const int grid_columns = std::min(columns, count);
  const int grid_rows = (count + grid_columns - 1) / grid_columns;

  ColorbarStyle bar;
  bar.label_size = 14.0f;
  bar.missing_note = missing;
  const int bar_width = colorbar_width(first.vmin, first.vmax, first.colorbar_label, bar);
  const int grid_width = grid_columns * panel_width;
  const int content_width = grid_width + kColorbarGap + bar_width + 2 * kPad;
  const std::vector<std::string> title_lines = wrap_text(title, kTitleSize, static_cast<float>(content_width - 2 * kPad));
  const int line = static_cast<int>(std::ceil(measure_text("Ag", kTitleSize).height()));
  int widest_title = 0;
  for (const std::string& l : title_lines)
    widest_title = std::max(widest_title, static_cast<int>(std::ceil(measure_text(l, kTitleSize).width)));
  const int title_height = title_lines.empty() ? 0 : static_cast<int>(title_lines.size()) * line + kPad;
  const int width = std::max(content_width, widest_title + 2 * kPad);
  const int height = kPad + title_height + grid_rows * panel_height;
  const int shift_x = (width - content_width) / 2;
  Figure figure(width, height);
  figure.set_title(title);

  for (size_t k = 0; k < title_lines.size(); ++k)
    figure.draw_text(static_cast<float>(width) / 2.0f, static_cast<float>(kPad + static_cast<int>(k) * line),
                     title_lines[k], TextStyle{kTitleSize, kBlack, HAlign::center, VAlign::top});
  int top = height, bottom = 0, right = 0;
  for (int k = 0; k < count; ++k) {
    const int r = k / grid_columns, c = k % grid_columns;
    const Rect area{shift_x + kPad + c * panel_width, kPad + title_height + r * panel_height, panel_width, panel_height};
    const Rect matrix = draw_heatmap(figure, area, bare[static_cast<size_t>(k)]);
    if (r == 0) top = std::min(top, matrix.y);
    if (r == grid_rows - 1) bottom = std::max(bottom, matrix.bottom());
    right = std::max(right, area.right());
  }
  draw_colorbar(figure, right + kColorbarGap, top, bottom, first.vmin, first.vmax, first.colorbar_label, bar);
  return figure;
}

void plot_heatmap_grid(const std::vector<HeatmapSpec>& panels, int columns, const std::string& title,
                       const std::filesystem::path& file) {
  heatmap_grid_figure(panels, columns, title).write(file);
}

std::vector<std::filesystem::path> save_heatmap_grid(const std::vector<HeatmapSpec>& panels, int columns,
                                                     const std::string& title, const std::filesystem::path& stem,
                                                     const FigureFormats& formats) {
  return heatmap_grid_figure(panels, columns, title).save(stem, formats);
}

}  // namespace convlab
