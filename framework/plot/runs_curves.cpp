#include "framework/plot/runs_curves.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "framework/core/error.h"
#include "framework/io/output_folder.h"
#include "framework/plot/colormap.h"
#include "framework/plot/side_by_side.h"

namespace fs = std::filesystem;

namespace convlab {
namespace {

// A folder's path components, root left out: "/x/a/run0/" -> x, a, run0; "." -> the
// current folder's.
std::vector<std::string> components(const fs::path& folder) {
  std::vector<std::string> parts;
  for (const fs::path& part : folder_path(folder).relative_path()) {
    const std::string text = part.string();
    if (!text.empty() && text != ".") parts.push_back(text);
  }
  if (parts.empty()) parts.push_back(folder.string());
  return parts;
}

Series test_series(const RunCurve& run, double EpochMetrics::*field, double scale, Rgb color, float width) {
  Series series;
  series.name = run.label;
  series.color = color;
  series.line_width = width;
  for (const EpochMetrics& row : run.rows) {
    series.x.push_back(static_cast<double>(row.epoch));
    series.y.push_back(row.*field * scale);
  }
  return series;
}

}  // namespace

std::vector<std::string> run_labels(const std::vector<fs::path>& folders) {
  std::vector<std::vector<std::string>> parts;
  for (const fs::path& folder : folders) parts.push_back(components(folder));
  std::vector<size_t> depth(folders.size(), 1);  // the last components a label shows
  auto label_of = [&](size_t i) {
    std::string label;
    for (size_t k = parts[i].size() - depth[i]; k < parts[i].size(); ++k)
      label += (label.empty() ? "" : "/") + parts[i][k];
    return label;
  };
  // Runs sharing a label show one component more, until they differ or have shown all.
  for (bool grew = true; grew;) {
    grew = false;
    std::map<std::string, std::vector<size_t>> by_label;
    for (size_t i = 0; i < folders.size(); ++i) by_label[label_of(i)].push_back(i);
    for (const auto& [label, group] : by_label) {
      if (group.size() < 2) continue;
      for (size_t i : group)
        if (depth[i] < parts[i].size()) ++depth[i], grew = true;
    }
  }
  std::vector<std::string> labels;
  std::map<std::string, int> seen;
  for (size_t i = 0; i < folders.size(); ++i) {
    // The same path twice has nothing more to show: numbered, as a last resort.
    const std::string label = label_of(i);
    const int n = ++seen[label];
    labels.push_back(n == 1 ? label : fmt::format("{} #{}", label, n));
  }
  return labels;
}

std::vector<RunCurve> read_run_curves(const std::vector<fs::path>& folders) {
  CONVLAB_CHECK(!folders.empty(), "no run folders to draw: give one or more convlab-train run folders");
  const std::vector<std::string> labels = run_labels(folders);
  std::vector<RunCurve> runs;
  std::vector<fs::path> canonical;
  for (size_t i = 0; i < folders.size(); ++i) {
    const fs::path& folder = folders[i];
    const fs::path csv = folder / MetricsLog::kCsvName;
    CONVLAB_CHECK(fs::exists(folder), "run folder {} does not exist", folder.string());
    CONVLAB_CHECK(fs::is_directory(folder), "{} is not a folder: give the run folder that holds metrics.csv",
                  folder.string());
    CONVLAB_CHECK(fs::is_regular_file(csv), "{} holds no metrics.csv: not a convlab-train run folder", folder.string());
    canonical.push_back(fs::weakly_canonical(folder));
    for (size_t j = 0; j < i; ++j)
      CONVLAB_CHECK(canonical[j] != canonical[i], "{} and {} are the same run folder: give each run once",
                    folders[j].string(), folder.string());
    RunCurve run{labels[i], folder, MetricsLog::read_csv(csv)};
    // Even a run stopped at once has epoch 0's row: a file without one was cut off or is not a run's.
    CONVLAB_CHECK(!run.rows.empty(), "{} holds no epochs (not even epoch 0, the network at init): nothing to draw",
                  csv.string());
    runs.push_back(std::move(run));
  }
  return runs;
}

BestEpoch best_test_epoch(const std::vector<EpochMetrics>& rows) {
  BestEpoch best;
  for (const EpochMetrics& row : rows)
    if (std::isfinite(row.test_acc) && (best.epoch < 0 || row.test_acc > best.test_acc))
      best = {row.epoch, row.test_acc};
  return best;
}

Rgb run_color(size_t index) {
  const Rgb base = series_color(index);
  switch ((index / 10) % 3) {
    case 1: return mix(base, kBlack, 0.45f);
    case 2: return mix(base, kWhite, 0.45f);
    default: return base;
  }
}

Figure runs_curves_figure(const std::vector<RunCurve>& runs) {
  CONVLAB_CHECK(!runs.empty(), "no runs to draw: give one or more runs");
  int64_t first = std::numeric_limits<int64_t>::max(), last = std::numeric_limits<int64_t>::min();
  std::set<std::string> labels;
  for (const RunCurve& run : runs) {
    CONVLAB_CHECK(!run.rows.empty(), "run '{}' ({}) has no epochs to draw", run.label, run.folder.string());
    CONVLAB_CHECK(labels.insert(run.label).second, "two runs are labelled '{}': give each run its own label",
                  run.label);
    for (const EpochMetrics& row : run.rows) first = std::min(first, row.epoch), last = std::max(last, row.epoch);
  }

  LinePlot accuracy;
  accuracy.x_label = first == 0 ? "epoch (0: the network at init)" : "epoch";
  accuracy.x_integer_ticks = true;
  // The epoch axis starts at the first row of any run and is never empty, even for one row.
  const double span = std::max<double>(static_cast<double>(last - first), 1);
  accuracy.x_min = static_cast<double>(first) - 0.04 * span;
  accuracy.x_max = static_cast<double>(first) + 1.04 * span;
  LinePlot loss = accuracy;
  accuracy.title = "Test accuracy";
  accuracy.y_label = "test accuracy (%)";
  loss.title = "Test loss";
  loss.y_label = "test loss";

  // Thinner lines where many runs cross each other.
  const float width = runs.size() > 10 ? 1.5f : 2.0f;
  std::vector<LegendEntry> entries;
  for (size_t i = 0; i < runs.size(); ++i) {
    const Rgb color = run_color(i);
    accuracy.series.push_back(test_series(runs[i], &EpochMetrics::test_acc, 100.0, color, width));
    loss.series.push_back(test_series(runs[i], &EpochMetrics::test_loss, 1.0, color, width));
    entries.push_back(LegendEntry{runs[i].label, color, width, shows_markers(accuracy.series.back())});
  }
  const std::string title = fmt::format("Learning curves of {} run{}", runs.size(), runs.size() == 1 ? "" : "s");
  return side_by_side_figure(title, accuracy, loss, entries);
}

std::vector<fs::path> save_runs_curves(const std::vector<RunCurve>& runs, const fs::path& stem,
                                       const FigureFormats& formats) {
  return runs_curves_figure(runs).save(stem, formats);
}

}  // namespace convlab
