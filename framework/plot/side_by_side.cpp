#include "framework/plot/side_by_side.h"

#include <cmath>

namespace convlab {
namespace {

constexpr int kPanelWidth = 640;
constexpr int kPanelHeight = 460;
constexpr int kPad = 12;
constexpr float kTitleSize = 17.0f;
constexpr float kLegendSize = 12.5f;

}  // namespace

Figure side_by_side_figure(const std::string& title, LinePlot left, LinePlot right,
                           const std::vector<LegendEntry>& legend) {
  left.legend = right.legend = false;  // one legend for both panels, below them
  const int width = 2 * kPanelWidth;
  const LegendStyle style{kLegendSize, LegendFlow::rows, width - 2 * kPad};
  const LegendSize legend_box = legend_size(legend, style);

  const std::vector<std::string> title_lines = wrap_text(title, kTitleSize, static_cast<float>(width - 2 * kPad));
  const int line = static_cast<int>(std::ceil(measure_text("Ag", kTitleSize).height()));
  const int title_height = title_lines.empty() ? 0 : kPad + static_cast<int>(title_lines.size()) * line;
  const int height = title_height + kPanelHeight + legend_box.height + kPad;
  Figure figure(width, height);
  figure.set_title(title);
  for (size_t k = 0; k < title_lines.size(); ++k)
    figure.draw_text(static_cast<float>(width) / 2.0f, static_cast<float>(kPad + static_cast<int>(k) * line),
                     title_lines[k], TextStyle{kTitleSize, kBlack, HAlign::center, VAlign::top});
  draw_line_plot(figure, Rect{0, title_height, kPanelWidth, kPanelHeight}, left);
  draw_line_plot(figure, Rect{kPanelWidth, title_height, kPanelWidth, kPanelHeight}, right);
  draw_legend(figure, (width - legend_box.width) / 2, title_height + kPanelHeight, legend, style);
  return figure;
}

}  // namespace convlab
