// tools/sweep on the CPU: two tiny runs at once on a generated image folder (and one broken
// config), then the summary table, the logs and the exit status.
#include <gtest/gtest.h>

#include <fmt/core.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "framework/io/metrics_log.h"
#include "tests/support/source_paths.h"
#include "tests/support/tiny_image_folder.h"

namespace fs = std::filesystem;
using namespace convlab;

namespace {

// Runs a shell command; returns its exit status and its output (stdout and stderr).
int run(const std::string& command, const fs::path& log, std::string& output) {
  const int status = std::system((command + " > '" + log.string() + "' 2>&1").c_str());
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  output = text.str();
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void write_config(const fs::path& file, const std::string& model, const fs::path& output, const std::string& extra = "") {
  std::ofstream(file) << "train_config:\n  train_data_size: 40\n  batch_size: 16\n  num_epochs: 1\n"
                      << "log_config:\n  experiment_dir: " << output.string() << "\n"
                      << "model_config:\n  name: " << model << "\n" << extra;
}

class Sweep : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("python3 -c pass > /dev/null 2>&1") != 0) GTEST_SKIP() << "python3 is not installed";
    if (!fs::exists(test_support::train_exe())) GTEST_SKIP() << test_support::train_exe() << " is not here (a copied test binary)";
    dir_ = fs::temp_directory_path() / fmt::format("convlab-sweep-{}", ::getpid());
    fs::remove_all(dir_);
    test_support::write_tiny_image_folder(dir_ / "data", 4, 2);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string sweep(const std::string& options) {
    return fmt::format("{}/tools/sweep --cpu --train {} --logs {} {}", test_support::source_dir(), test_support::train_exe(),
                       (dir_ / "logs").string(), options);
  }
  fs::path dir_;
};

}  // namespace

TEST_F(Sweep, RunsTwoConfigsAtOnceAndSummarises) {
  write_config(dir_ / "resnet.yaml", "resnet20", dir_ / "out" / "resnet");
  write_config(dir_ / "allcnn.yaml", "all_cnn_c", dir_ / "out" / "allcnn");
  std::string out;
  const std::string train_options =
      fmt::format("-- --data {} --cache-dir {} --eval-examples 20 --quiet", (dir_ / "data").string(), (dir_ / "cache").string());
  ASSERT_EQ(run(sweep(fmt::format("--jobs 2 {} {} {}", (dir_ / "resnet.yaml").string(), (dir_ / "allcnn.yaml").string(),
                                  train_options)),
                dir_ / "sweep.log", out),
            0)
      << out;
  // Both started before either finished.
  const size_t second_start = out.find("started allcnn"), first_end = out.find(" ok after");
  ASSERT_NE(out.find("started resnet"), std::string::npos) << out;
  ASSERT_NE(second_start, std::string::npos) << out;
  ASSERT_NE(first_end, std::string::npos) << out;
  EXPECT_LT(second_start, first_end) << out;
  EXPECT_NE(out.find("CPU, 2 run(s) at a time"), std::string::npos) << out;
  // The table: one line per config with its output folder, epochs, accuracy and status.
  const std::string summary = out.substr(out.find("config "));
  for (const char* name : {"resnet", "allcnn"}) {
    const size_t at = summary.find((dir_ / fmt::format("{}.yaml", name)).string());
    ASSERT_NE(at, std::string::npos) << summary;
    const std::string line = summary.substr(at, summary.find('\n', at) - at);
    EXPECT_NE(line.find((dir_ / "out" / name).string()), std::string::npos) << line;
    EXPECT_NE(line.find(" 1/1 "), std::string::npos) << line;
    EXPECT_NE(line.find('%'), std::string::npos) << line;
    EXPECT_NE(line.find(" ok"), std::string::npos) << line;
    EXPECT_EQ(MetricsLog::read_csv(dir_ / "out" / name / "metrics.csv").size(), 2u);  // epochs 0 and 1
    EXPECT_TRUE(fs::exists(dir_ / "logs" / fmt::format("{}.log", name)));
  }
  EXPECT_TRUE(fs::exists(dir_ / "logs" / "summary.txt"));

  // --summary reads the same table back without running anything.
  ASSERT_EQ(run(fmt::format("{}/tools/sweep --summary {} {} -- --epochs 1", test_support::source_dir(),
                            (dir_ / "resnet.yaml").string(), (dir_ / "allcnn.yaml").string()),
                dir_ / "summary.log", out),
            0)
      << out;
  EXPECT_NE(out.find("finished"), std::string::npos) << out;
}

TEST_F(Sweep, AFailedRunMakesTheSweepFail) {
  write_config(dir_ / "good.yaml", "resnet20", dir_ / "out" / "good");
  write_config(dir_ / "bad.yaml", "no_such_model", dir_ / "out" / "bad");
  std::string out;
  const int status = run(sweep(fmt::format("--jobs 1 {} {} -- --data {} --cache-dir {} --eval-examples 20 --quiet",
                                           (dir_ / "bad.yaml").string(), (dir_ / "good.yaml").string(),
                                           (dir_ / "data").string(), (dir_ / "cache").string())),
                         dir_ / "sweep.log", out);
  EXPECT_EQ(status, 1) << out;
  EXPECT_NE(out.find("failed (exit 1)"), std::string::npos) << out;
  EXPECT_NE(out.find("1 of 2 run(s) did not finish"), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(dir_ / "out" / "good" / "metrics.csv"));  // the queue went on
  std::ifstream log(dir_ / "logs" / "bad.log");
  std::stringstream text;
  text << log.rdbuf();
  EXPECT_NE(text.str().find("unknown model_config.name 'no_such_model'"), std::string::npos) << text.str();
}

TEST_F(Sweep, GivesEachGpuOneRunAndRefusesSharedOutputs) {
  write_config(dir_ / "a.yaml", "resnet20", dir_ / "out" / "a");
  write_config(dir_ / "b.yaml", "resnet20", dir_ / "out" / "b");
  std::string out;
  ASSERT_EQ(run(fmt::format("{}/tools/sweep --gpus 0,1 --dry-run {} {} -- --epochs 2", test_support::source_dir(),
                            (dir_ / "a.yaml").string(), (dir_ / "b.yaml").string()),
                dir_ / "dry.log", out),
            0)
      << out;
  EXPECT_NE(out.find("a.yaml --epochs 2 --device cuda --output " + (dir_ / "out" / "a").string()), std::string::npos)
      << out;
  // The same experiment_dir twice: refused before anything runs.
  EXPECT_NE(run(fmt::format("{}/tools/sweep --dry-run {} {}", test_support::source_dir(), (dir_ / "a.yaml").string(),
                            (dir_ / "a.yaml").string()),
                dir_ / "clash.log", out),
            0);
  EXPECT_NE(out.find("--output-root"), std::string::npos) << out;
}
