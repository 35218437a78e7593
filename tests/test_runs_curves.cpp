// The learning curves of several runs in one figure (convlab-analyze curves): runs read from
// their folders' metrics.csv, labels that tell every run apart, the figure in every format and
// the errors that name a folder which is not a run's.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "framework/core/error.h"
#include "framework/io/metrics_log.h"
#include "framework/plot/runs_curves.h"
#include "tests/support/error_of.h"
#include "tests/support/figure_files.h"
#include "tests/support/scratch_dir.h"

namespace convlab {
namespace {

namespace fs = std::filesystem;
using test_support::error_of;
using test_support::png_size;
using test_support::svg_texts;

class RunsCurvesTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = test_support::fresh_test_dir("runs-curves"); }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
};

// A run folder as convlab-train leaves it, as far as curves reads it: metrics.csv with epochs
// 0 (the network at init) to `epochs`, test accuracy rising by `rate` an epoch.
fs::path write_run(const fs::path& folder, int epochs, double rate) {
  MetricsLog log(folder, false);
  for (int e = 0; e <= epochs; ++e) {
    EpochMetrics row;
    row.epoch = e;
    row.updates = 10 * e;
    row.lr = 0.1;
    row.train_loss = e == 0 ? NAN : 2.0 / e;
    row.train_acc = e == 0 ? NAN : 1.0 - 0.5 / e;
    row.test_loss = 2.3 / (1 + rate * e);
    row.test_acc = std::min(0.1 + rate * e, 1.0);
    row.seconds = 1.5 + e;
    row.images_per_second = e == 0 ? NAN : 1000;
    log.append(row);
  }
  return folder;
}

size_t count_of(const std::vector<std::string>& texts, const std::string& wanted) {
  return static_cast<size_t>(std::count(texts.begin(), texts.end(), wanted));
}

TEST_F(RunsCurvesTest, OneAndThreeRunsInEveryFormat) {
  const auto solo = read_run_curves({write_run(dir_ / "solo", 5, 0.1)});
  ASSERT_EQ(solo.size(), 1u);
  EXPECT_EQ(solo[0].label, "solo");
  EXPECT_EQ(solo[0].folder, dir_ / "solo");
  ASSERT_EQ(solo[0].rows.size(), 6u);
  const auto files = save_runs_curves(solo, dir_ / "one", {FigureFormat::png, FigureFormat::pdf, FigureFormat::svg});
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0], dir_ / "one.png");
  const Figure one = runs_curves_figure(solo);
  EXPECT_EQ(one.width(), 1280);  // two panels side by side
  EXPECT_GT(one.height(), 460);
  EXPECT_LT(one.height(), 700);
  const auto png = png_size(dir_ / "one.png");
  EXPECT_EQ(png.width, one.width());
  EXPECT_EQ(png.height, one.height());
  EXPECT_GT(test_support::pdf_page_size(dir_ / "one.pdf").width, 0);
  const auto texts = svg_texts(dir_ / "one.svg");
  for (const char* t : {"Learning curves of 1 run", "Test accuracy", "Test loss", "test accuracy (%)", "test loss",
                        "epoch (0: the network at init)", "0", "solo"})
    EXPECT_GT(count_of(texts, t), 0u) << t;
  EXPECT_EQ(count_of(texts, "solo"), 1u);  // in the shared legend only

  // Three runs of different lengths: every label once, the axis to the longest run.
  std::vector<fs::path> folders;
  for (int seed = 0; seed < 3; ++seed)
    folders.push_back(write_run(dir_ / fmt::format("seed{}", seed), 4 + 3 * seed, 0.05 * (seed + 1)));
  const auto runs = read_run_curves(folders);
  ASSERT_EQ(runs.size(), 3u);
  save_runs_curves(runs, dir_ / "three", {FigureFormat::png, FigureFormat::svg});
  const auto three = svg_texts(dir_ / "three.svg");
  EXPECT_EQ(count_of(three, "Learning curves of 3 runs"), 1u);
  for (const char* label : {"seed0", "seed1", "seed2"}) EXPECT_EQ(count_of(three, label), 1u) << label;
  EXPECT_GE(count_of(three, "10"), 2u);  // the last epoch, on both panels' axes
  const auto three_png = png_size(dir_ / "three.png");
  EXPECT_EQ(three_png.width, 1280);
  EXPECT_EQ(three_png.height, runs_curves_figure(runs).height());
}

TEST_F(RunsCurvesTest, RunsOfOneNameAreToldApartByTheirPaths) {
  EXPECT_EQ(run_labels({"a/run0", "b/run0", "c/run1"}), (std::vector<std::string>{"a/run0", "b/run0", "run1"}));
  EXPECT_EQ(run_labels({"run0/", "x/run0"}), (std::vector<std::string>{"run0", "x/run0"}));
  EXPECT_EQ(run_labels({"x/a/run0", "y/a/run0", "a/run0"}),
            (std::vector<std::string>{"x/a/run0", "y/a/run0", "a/run0"}));
  EXPECT_EQ(run_labels({"/data/sweep/lr_0.1/run", "/data/sweep/lr_0.01/run"}),
            (std::vector<std::string>{"lr_0.1/run", "lr_0.01/run"}));
  EXPECT_EQ(run_labels({"solo"}), (std::vector<std::string>{"solo"}));
  EXPECT_EQ(run_labels({"."}).front(), fs::current_path().filename().string());
  // Nothing left to tell them apart (one path twice): numbered, never the same label.
  const auto same = run_labels({"p/run", "p/run"});
  EXPECT_NE(same[0], same[1]);

  const auto runs = read_run_curves({write_run(dir_ / "a" / "run0", 2, 0.1), write_run(dir_ / "b" / "run0", 3, 0.1)});
  EXPECT_EQ(runs[0].label, "a/run0");
  EXPECT_EQ(runs[1].label, "b/run0");
  runs_curves_figure(runs).write(dir_ / "two.svg");
  const auto texts = svg_texts(dir_ / "two.svg");
  EXPECT_EQ(count_of(texts, "a/run0"), 1u);
  EXPECT_EQ(count_of(texts, "b/run0"), 1u);
}

TEST_F(RunsCurvesTest, TwentyRunsGetDistinctColoursAndAReadableLegend) {
  std::set<std::tuple<int, int, int>> colours;
  for (size_t i = 0; i < 30; ++i) colours.insert({run_color(i).r, run_color(i).g, run_color(i).b});
  EXPECT_EQ(colours.size(), 30u);
  EXPECT_NE(run_color(0), kWhite);

  std::vector<fs::path> folders;
  for (int i = 0; i < 20; ++i)
    folders.push_back(write_run(dir_ / fmt::format("sweep_lr_{}_seed_{}", i / 4, i % 4), 6, 0.01 * (i + 1)));
  const auto runs = read_run_curves(folders);
  const Figure figure = runs_curves_figure(runs);
  figure.write(dir_ / "twenty.svg");
  const auto texts = svg_texts(dir_ / "twenty.svg");
  for (const RunCurve& run : runs) EXPECT_EQ(count_of(texts, run.label), 1u) << run.label;
  EXPECT_EQ(count_of(texts, "Learning curves of 20 runs"), 1u);
  // The legend flows in rows under the panels, each label clear of the others.
  const int one_run = runs_curves_figure({runs[0]}).height();
  EXPECT_GT(figure.height(), one_run + 40);
  EXPECT_LT(figure.height(), one_run + 300);
  std::vector<PlacedText> labels;
  for (const PlacedText& t : figure.texts())
    if (t.text.rfind("sweep_lr_", 0) == 0) labels.push_back(t);
  ASSERT_EQ(labels.size(), 20u);
  for (size_t i = 0; i < labels.size(); ++i) {
    EXPECT_GE(labels[i].x, 0);
    EXPECT_LE(labels[i].x + labels[i].width, figure.width());
    EXPECT_LE(labels[i].y, figure.height());
    for (size_t j = 0; j < i; ++j) {
      const bool same_row = std::abs(labels[i].y - labels[j].y) < 1;
      const bool apart = labels[i].x >= labels[j].x + labels[j].width || labels[j].x >= labels[i].x + labels[i].width;
      EXPECT_TRUE(!same_row || apart) << labels[i].text << " overlaps " << labels[j].text;
    }
  }
}

TEST_F(RunsCurvesTest, BestEpochIsTheFirstOfTheHighest) {
  std::vector<EpochMetrics> rows(4);
  const double acc[] = {0.1, 0.6, 0.6, 0.5};
  for (int e = 0; e < 4; ++e) rows[e].epoch = e, rows[e].test_acc = acc[e];
  const BestEpoch best = best_test_epoch(rows);
  EXPECT_EQ(best.epoch, 1);
  EXPECT_DOUBLE_EQ(best.test_acc, 0.6);
  rows[0].test_acc = NAN;
  rows[1].test_acc = NAN;
  EXPECT_EQ(best_test_epoch(rows).epoch, 2);
  const BestEpoch none = best_test_epoch({});
  EXPECT_EQ(none.epoch, -1);
  EXPECT_TRUE(std::isnan(none.test_acc));
}

TEST_F(RunsCurvesTest, NoRunsEmptyMetricsAndFoldersThatAreNoRunsAreErrorsNamingThem) {
  EXPECT_THROW(read_run_curves({}), Error);
  EXPECT_THROW(runs_curves_figure({}), Error);
  EXPECT_THROW(save_runs_curves({}, dir_ / "none"), Error);
  EXPECT_FALSE(fs::exists(dir_ / "none.png"));
  const std::string no_rows = error_of([&] { runs_curves_figure({RunCurve{"idle", dir_ / "idle", {}}}); });
  EXPECT_NE(no_rows.find("run 'idle'"), std::string::npos) << no_rows;
  EXPECT_NE(no_rows.find("has no epochs to draw"), std::string::npos) << no_rows;

  // metrics.csv with its header and no rows.
  { MetricsLog empty(dir_ / "empty", false); }
  const fs::path good = write_run(dir_ / "good", 2, 0.1);
  EXPECT_THROW(read_run_curves({good, dir_ / "empty"}), Error);
  const std::string empty = error_of([&] { read_run_curves({good, dir_ / "empty"}); });
  EXPECT_NE(empty.find((dir_ / "empty" / "metrics.csv").string() + " holds no epochs"), std::string::npos) << empty;
  // metrics.csv with nothing at all (killed before its header).
  std::ofstream(dir_ / "empty" / "metrics.csv").close();
  EXPECT_NE(error_of([&] { read_run_curves({dir_ / "empty"}); }).find("holds no epochs"), std::string::npos);

  fs::create_directories(dir_ / "analysis");
  const std::string not_run = error_of([&] { read_run_curves({good, dir_ / "analysis"}); });
  EXPECT_NE(not_run.find((dir_ / "analysis").string() + " holds no metrics.csv: not a convlab-train run folder"),
            std::string::npos) << not_run;
  const std::string missing = error_of([&] { read_run_curves({dir_ / "missing"}); });
  EXPECT_NE(missing.find("run folder " + (dir_ / "missing").string() + " does not exist"), std::string::npos)
      << missing;
  const std::string file = error_of([&] { read_run_curves({good / "metrics.csv"}); });
  EXPECT_NE(file.find("is not a folder: give the run folder that holds metrics.csv"), std::string::npos) << file;
  const std::string twice = error_of([&] { read_run_curves({good, dir_ / "." / "good"}); });
  EXPECT_NE(twice.find("are the same run folder: give each run once"), std::string::npos) << twice;

  auto runs = read_run_curves({good, write_run(dir_ / "other", 2, 0.2)});
  runs[1].label = runs[0].label;
  const std::string shared = error_of([&] { runs_curves_figure(runs); });
  EXPECT_NE(shared.find("two runs are labelled 'good'"), std::string::npos) << shared;
}

}  // namespace
}  // namespace convlab
