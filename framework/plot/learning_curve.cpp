#include "framework/plot/learning_curve.h"

#include "framework/core/error.h"
#include "framework/plot/colormap.h"
#include "framework/plot/line_plot.h"
#include "framework/plot/text.h"

namespace convlab {
namespace {

constexpr int kPanelWidth = 640;
constexpr int kPanelHeight = 480;

Series make_series(const std::string& name, const std::vector<EpochMetrics>& rows, double EpochMetrics::*field,
                   double scale, Rgb color) {
  Series series;
  series.color = color;
  for (const EpochMetrics& row : rows) {
    series.x.push_back(static_cast<double>(row.epoch));
    series.y.push_back(row.*field * scale);
  }
  series.name = name;
  return series;
}

}  // namespace

Canvas learning_curve_canvas(const std::vector<EpochMetrics>& rows, const std::string& title) {
  CONVLAB_CHECK(!rows.empty(), "no epochs to plot for '{}'", title);
  const float title_size = 22.0f;
  const int title_height = title.empty() ? 0 : static_cast<int>(measure_text(title, title_size).height()) + 16;
  Canvas canvas(2 * kPanelWidth, kPanelHeight + title_height);
  if (!title.empty()) draw_text(canvas, kPanelWidth, 10.0f, title, TextStyle{title_size, kBlack, HAlign::center, VAlign::top});

  const EpochMetrics& last = rows.back();

  LinePlot accuracy;
  accuracy.title = "Accuracy";
  accuracy.x_label = "epoch";
  accuracy.y_label = "accuracy (%)";
  accuracy.x_integer_ticks = true;
  accuracy.series.push_back(make_series(fmt::format("train ({:.2f}%)", 100 * last.train_acc), rows,
                                        &EpochMetrics::train_acc, 100.0, series_color(0)));
  accuracy.series.push_back(make_series(fmt::format("test ({:.2f}%)", 100 * last.test_acc), rows,
                                        &EpochMetrics::test_acc, 100.0, series_color(1)));
  draw_line_plot(canvas, Rect{0, title_height, kPanelWidth, kPanelHeight}, accuracy);

  LinePlot loss = accuracy;
  loss.title = "Loss";
  loss.y_label = "loss";
  loss.series = {make_series(fmt::format("train ({:.4f})", last.train_loss), rows, &EpochMetrics::train_loss, 1.0, series_color(0)),
                 make_series(fmt::format("test ({:.4f})", last.test_loss), rows, &EpochMetrics::test_loss, 1.0, series_color(1))};
  draw_line_plot(canvas, Rect{kPanelWidth, title_height, kPanelWidth, kPanelHeight}, loss);
  return canvas;
}

void plot_learning_curve(const std::vector<EpochMetrics>& rows, const std::filesystem::path& png,
                         const std::string& title) {
  learning_curve_canvas(rows, title).save_png(png);
}

}  // namespace convlab
