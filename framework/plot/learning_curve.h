// The learning-curve figure of a training run: accuracy and loss per epoch, train and test.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "framework/io/metrics_log.h"
#include "framework/plot/canvas.h"

namespace convlab {

// Draws the figure: two panels side by side, accuracy (%) and loss against epoch, each with
// train and test curves and a legend giving the final values. At least one row is needed.
Canvas learning_curve_canvas(const std::vector<EpochMetrics>& rows, const std::string& title);

// The same, written to png.
void plot_learning_curve(const std::vector<EpochMetrics>& rows, const std::filesystem::path& png,
                         const std::string& title);

}  // namespace convlab
