// The learning-curve figure of a training run: accuracy and loss against epoch, train and
// test, with the epochs where the learning rate dropped marked, and a legend that says what
// each curve measures.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "framework/io/metrics_log.h"
#include "framework/plot/figure.h"

namespace convlab {

struct LearningCurveInfo {
  std::string title;
  int64_t test_examples = 0;  // test images per evaluation (0: not said)
  bool augmented = true;      // whether the training batches were augmented
};

// Where the learning rate fell: after epoch `after`, whose row has a higher lr than the next
// row's `lr`.
struct LearningRateDrop {
  int64_t after = 0;
  double lr = 0;
};
std::vector<LearningRateDrop> learning_rate_drops(const std::vector<EpochMetrics>& rows);

// Two panels side by side, accuracy (%) and loss against epoch, each with the train and test
// curves (train is NaN at epoch 0, before any update, and not drawn there), the last values
// in the panel titles, dashed lines at the learning-rate drops and a shared legend below. At
// least one row is needed.
Figure learning_curve_figure(const std::vector<EpochMetrics>& rows, const LearningCurveInfo& info);

// The same, written to file in the format its extension names (.png, .pdf, .svg).
void plot_learning_curve(const std::vector<EpochMetrics>& rows, const std::filesystem::path& file,
                         const LearningCurveInfo& info);

// The same, as stem.png, stem.pdf, ... for each of formats; returns the paths.
std::vector<std::filesystem::path> save_learning_curve(const std::vector<EpochMetrics>& rows,
                                                       const std::filesystem::path& stem, const LearningCurveInfo& info,
                                                       const FigureFormats& formats = {FigureFormat::png});

}  // namespace convlab
