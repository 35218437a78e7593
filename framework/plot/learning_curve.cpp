#include "framework/plot/learning_curve.h"

#include <algorithm>
#include <cmath>

#include "framework/core/error.h"
#include "framework/plot/colormap.h"
#include "framework/plot/side_by_side.h"

namespace convlab {
namespace {

Series make_series(const std::vector<EpochMetrics>& rows, double EpochMetrics::*field, double scale, Rgb color) {
  Series series;
  series.color = color;
  for (const EpochMetrics& row : rows) {
    series.x.push_back(static_cast<double>(row.epoch));
    series.y.push_back(row.*field * scale);
  }
  return series;
}

// 10000 -> "10,000".
std::string with_thousands(int64_t n) {
  const std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out = n < 0 ? "-" : "";
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// "train 98.20%, test 91.00%" for the last row; a value that is not finite is left out.
std::string last_values(const EpochMetrics& last, double EpochMetrics::*train, double EpochMetrics::*test, double scale,
                        const char* format) {
  std::vector<std::string> parts;
  if (std::isfinite(last.*train)) parts.push_back("train " + fmt::format(fmt::runtime(format), last.*train * scale));
  if (std::isfinite(last.*test)) parts.push_back("test " + fmt::format(fmt::runtime(format), last.*test * scale));
  std::string text = fmt::format("epoch {}", last.epoch);
  for (size_t i = 0; i < parts.size(); ++i) text += (i ? ", " : ": ") + parts[i];
  return text;
}

}  // namespace

std::vector<LearningRateDrop> learning_rate_drops(const std::vector<EpochMetrics>& rows) {
  std::vector<LearningRateDrop> drops;
  for (size_t i = 1; i < rows.size(); ++i)
    if (rows[i].lr < rows[i - 1].lr) drops.push_back(LearningRateDrop{rows[i - 1].epoch, rows[i].lr});
  return drops;
}

Figure learning_curve_figure(const std::vector<EpochMetrics>& rows, const LearningCurveInfo& info) {
  CONVLAB_CHECK(!rows.empty(), "no epochs to plot for '{}'", info.title);
  const EpochMetrics& last = rows.back();
  const Rgb train_color = series_color(0), test_color = series_color(1);

  LinePlot accuracy;
  accuracy.x_label = "epoch";
  accuracy.x_integer_ticks = true;
  for (const LearningRateDrop& drop : learning_rate_drops(rows)) {
    accuracy.x_markers.push_back(static_cast<double>(drop.after));
    accuracy.x_marker_labels.push_back(fmt::format("lr {:g}", drop.lr));
  }
  // The epoch axis starts at the first row and is never empty, even for one row.
  const double first = static_cast<double>(rows.front().epoch), span = std::max<double>(last.epoch - rows.front().epoch, 1);
  accuracy.x_min = first - 0.04 * span;
  accuracy.x_max = first + 1.04 * span;

  LinePlot loss = accuracy;
  accuracy.title = "Accuracy (" + last_values(last, &EpochMetrics::train_acc, &EpochMetrics::test_acc, 100.0, "{:.2f}%") + ")";
  accuracy.y_label = "accuracy (%)";
  accuracy.series = {make_series(rows, &EpochMetrics::train_acc, 100.0, train_color),
                     make_series(rows, &EpochMetrics::test_acc, 100.0, test_color)};
  loss.title = "Loss (" + last_values(last, &EpochMetrics::train_loss, &EpochMetrics::test_loss, 1.0, "{:.4f}") + ")";
  loss.y_label = "loss";
  loss.series = {make_series(rows, &EpochMetrics::train_loss, 1.0, train_color),
                 make_series(rows, &EpochMetrics::test_loss, 1.0, test_color)};

  // The legend says what each curve measures.
  const bool markers = shows_markers(accuracy.series[0]);
  const std::string train_text = info.augmented ? "train: running mean over the epoch's augmented batches"
                                                : "train: running mean over the epoch's batches";
  std::string test_text = info.test_examples > 0 ? "test: " + with_thousands(info.test_examples) + " images" : "test";
  if (rows.front().epoch == 0) test_text += " (epoch 0: the network at init)";
  std::vector<LegendEntry> entries = {LegendEntry{train_text, train_color, 2.0f, markers},
                                      LegendEntry{test_text, test_color, 2.0f, markers}};
  if (!accuracy.x_markers.empty())
    entries.push_back(LegendEntry{"learning-rate drop", kMarkerColor, kMarkerWidth, false, kMarkerDash});
  return side_by_side_figure(info.title, accuracy, loss, entries);
}

void plot_learning_curve(const std::vector<EpochMetrics>& rows, const std::filesystem::path& file,
                         const LearningCurveInfo& info) {
  learning_curve_figure(rows, info).write(file);
}

std::vector<std::filesystem::path> save_learning_curve(const std::vector<EpochMetrics>& rows,
                                                       const std::filesystem::path& stem, const LearningCurveInfo& info,
                                                       const FigureFormats& formats) {
  return learning_curve_figure(rows, info).save(stem, formats);
}

}  // namespace convlab
