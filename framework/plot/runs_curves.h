// The learning curves of several training runs in one figure, to set runs side by side in a
// report: test accuracy and test loss against epoch, one curve per run, read from the runs'
// metrics.csv (convlab-analyze curves).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "framework/io/metrics_log.h"
#include "framework/plot/figure.h"

namespace convlab {

struct RunCurve {
  std::string label;               // the run's name in the legend
  std::filesystem::path folder;    // the run folder, as given
  std::vector<EpochMetrics> rows;  // its metrics.csv
};

// Legend labels for run folders: each folder's name, or where two runs share a name, as many
// of their last path components as tell them apart ("a/run0" and "b/run0"), so that no two
// runs get the same label (one path given twice is numbered: "run0", "run0 #2").
std::vector<std::string> run_labels(const std::vector<std::filesystem::path>& folders);

// The metrics.csv of each run folder, labelled by run_labels. No folder, a folder that does
// not exist, holds no metrics.csv or no epochs in it, and a folder given twice are errors
// naming it.
std::vector<RunCurve> read_run_curves(const std::vector<std::filesystem::path>& folders);

// The highest test accuracy of a run and the first epoch that reached it (NaN and -1 when no
// row has a finite one).
struct BestEpoch {
  int64_t epoch = -1;
  double test_acc = std::numeric_limits<double>::quiet_NaN();
};
BestEpoch best_test_epoch(const std::vector<EpochMetrics>& rows);

// The colour of the index-th run: the ten series colours, then darker and lighter shades of
// them, so that 30 runs get 30 colours.
Rgb run_color(size_t index);

// Two panels side by side, test accuracy (%) and test loss against epoch (from the first
// epoch of any run; epoch 0 is the network at init), one curve per run in its run_color, and
// one legend of the runs' labels below them. At least one run, each with at least one row,
// and distinct labels are needed.
Figure runs_curves_figure(const std::vector<RunCurve>& runs);

// The same, as stem.png, stem.pdf, ... for each of formats; returns the paths.
std::vector<std::filesystem::path> save_runs_curves(const std::vector<RunCurve>& runs,
                                                    const std::filesystem::path& stem,
                                                    const FigureFormats& formats = {FigureFormat::png});

}  // namespace convlab
