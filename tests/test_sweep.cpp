// tools/sweep on the CPU: two tiny runs at once on a generated image folder (and one broken
// config), then the summary table, the logs and the exit status; the output folders and epoch
// counts as convlab-train resolves them, configs it rejects, --jobs, and --resume (also in
// tools/sweep.slurm).
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
  // The convlab-train options of a tiny run on the generated images.
  std::string tiny_options() const {
    return fmt::format("--data {} --cache-dir {} --eval-examples 20 --quiet", (dir_ / "data").string(),
                       (dir_ / "cache").string());
  }
  // An interrupted run of `config` (written by write_config): epoch 1 of 2 done.
  void interrupted_run(const fs::path& config) {
    std::string out;
    run(fmt::format("OMP_NUM_THREADS=1 {} {} {} --device cpu --epochs 2 --stop-after-epoch 1", test_support::train_exe(),
                    config.string(), tiny_options()),
        dir_ / "interrupted.log", out);
    ASSERT_EQ(MetricsLog::read_csv(config.parent_path() / "out" / config.stem() / "metrics.csv").size(), 2u) << out;
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
  ASSERT_EQ(run(fmt::format("{}/tools/sweep --train {} --summary {} {} -- --epochs 1", test_support::source_dir(),
                            test_support::train_exe(), (dir_ / "resnet.yaml").string(), (dir_ / "allcnn.yaml").string()),
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
  // The line says why: the last line of the run's log.
  EXPECT_NE(out.find(": convlab-train: error: unknown model_config.name 'no_such_model'"), std::string::npos) << out;
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
  ASSERT_EQ(run(fmt::format("{}/tools/sweep --train {} --gpus 0,1 --dry-run {} {} -- --epochs 2", test_support::source_dir(),
                            test_support::train_exe(), (dir_ / "a.yaml").string(), (dir_ / "b.yaml").string()),
                dir_ / "dry.log", out),
            0)
      << out;
  EXPECT_NE(out.find("a.yaml --epochs 2 --device cuda --output " + (dir_ / "out" / "a").string()), std::string::npos)
      << out;
  // The same experiment_dir twice: refused before anything runs.
  EXPECT_NE(run(fmt::format("{}/tools/sweep --train {} --dry-run {} {}", test_support::source_dir(),
                            test_support::train_exe(), (dir_ / "a.yaml").string(), (dir_ / "a.yaml").string()),
                dir_ / "clash.log", out),
            0);
  EXPECT_NE(out.find("--output-root"), std::string::npos) << out;
}

// The output folder and the epoch count are convlab-train's (--print-config), not a guess
// from the config's text: flow-style sections, anchors and aliases, and a quoted folder name
// with '#', quotes, a backslash and a tab in it.
TEST_F(Sweep, TakesOutputFoldersAndEpochsFromConvlabTrain) {
  std::ofstream(dir_ / "flow1.yaml") << "train_config: {num_epochs: 4}\n"
                                     << "log_config: {experiment_dir: " << (dir_ / "out" / "flow1").string() << "}\n";
  std::ofstream(dir_ / "flow2.yaml") << "log_config: {experiment_dir: " << (dir_ / "out" / "flow2").string() << "}\n";
  std::ofstream(dir_ / "alias.yaml") << "train_config:\n  seed_id: &epochs 3\n  num_epochs: *epochs\n"
                                     << "log_config:\n  experiment_dir: &dir " << (dir_ / "out" / "alias").string() << "\n";
  std::ofstream(dir_ / "quoted.yaml") << "train_config:\n  num_epochs: 2 # two\n"
                                      << "log_config:\n  experiment_dir: \"" << (dir_ / "out").string()
                                      << "/q \\\"x\\\" #1\\t\\\\y\"  # a comment\n";
  const std::string configs = fmt::format("{0}/flow1.yaml {0}/flow2.yaml {0}/alias.yaml {0}/quoted.yaml", dir_.string());
  std::string out;
  // --summary prints each run's folder and planned epochs (exit 1: nothing has run yet).
  ASSERT_EQ(run(fmt::format("{}/tools/sweep --train {} --summary {}", test_support::source_dir(), test_support::train_exe(),
                            configs),
                dir_ / "summary.log", out),
            1)
      << out;
  auto line_of = [&](const std::string& config) {
    const size_t at = out.find((dir_ / config).string() + " ");
    return at == std::string::npos ? std::string() : out.substr(at, out.find('\n', at) - at);
  };
  EXPECT_NE(line_of("flow1.yaml").find((dir_ / "out" / "flow1").string() + " "), std::string::npos) << out;
  EXPECT_NE(line_of("flow1.yaml").find(" 0/4 "), std::string::npos) << out;
  EXPECT_NE(line_of("flow2.yaml").find((dir_ / "out" / "flow2").string() + " "), std::string::npos) << out;
  EXPECT_NE(line_of("flow2.yaml").find(" 0/350 "), std::string::npos) << out;  // num_epochs's default
  EXPECT_NE(line_of("alias.yaml").find((dir_ / "out" / "alias").string() + " "), std::string::npos) << out;
  EXPECT_NE(line_of("alias.yaml").find(" 0/3 "), std::string::npos) << out;
  EXPECT_NE(line_of("quoted.yaml").find((dir_ / "out").string() + "/q \"x\" #1\t\\y "), std::string::npos) << out;
  EXPECT_NE(line_of("quoted.yaml").find(" 0/2 "), std::string::npos) << out;

  // The options after -- count (--epochs, --output); --output-root still overrides the folder.
  ASSERT_EQ(run(fmt::format("{}/tools/sweep --train {} --summary {}/alias.yaml -- --epochs 7 --output {}",
                            test_support::source_dir(), test_support::train_exe(), dir_.string(),
                            (dir_ / "elsewhere").string()),
                dir_ / "summary2.log", out),
            1)
      << out;
  EXPECT_NE(line_of("alias.yaml").find((dir_ / "elsewhere").string() + " "), std::string::npos) << out;
  EXPECT_NE(line_of("alias.yaml").find(" 0/7 "), std::string::npos) << out;
  ASSERT_EQ(run(fmt::format("{}/tools/sweep --train {} --cpu --dry-run --output-root {} {}", test_support::source_dir(),
                            test_support::train_exe(), (dir_ / "root").string(), configs),
                dir_ / "dry.log", out),
            0)
      << out;
  for (const char* name : {"flow1", "flow2", "alias", "quoted"})
    EXPECT_NE(out.find(fmt::format("{}.yaml --device cpu --output {}\n", name, (dir_ / "root" / name).string())),
              std::string::npos)
        << out;
}

TEST_F(Sweep, AConfigConvlabTrainRejectsStopsTheSweepBeforeAnythingStarts) {
  write_config(dir_ / "good.yaml", "resnet20", dir_ / "out" / "good");
  write_config(dir_ / "bad.yaml", "resnet20", dir_ / "out" / "bad", "  no_such_key: 1\n");
  std::string out;
  EXPECT_EQ(run(sweep(fmt::format("{} {} -- {}", (dir_ / "good.yaml").string(), (dir_ / "bad.yaml").string(),
                                  tiny_options())),
                dir_ / "sweep.log", out),
            1)
      << out;
  EXPECT_NE(out.find("convlab-train rejects 1 of 2 config(s)"), std::string::npos) << out;
  EXPECT_NE(out.find("nothing was started"), std::string::npos) << out;
  EXPECT_NE(out.find((dir_ / "bad.yaml").string() + ":\n  convlab-train: error: "), std::string::npos) << out;
  EXPECT_NE(out.find("no_such_key"), std::string::npos) << out;  // convlab-train's own message
  EXPECT_EQ(out.find("good.yaml:"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir_ / "out" / "good"));
  EXPECT_FALSE(fs::exists(dir_ / "logs"));
  // The options after -- are checked as well.
  EXPECT_EQ(run(sweep(fmt::format("--dry-run {} -- --epochs 0", (dir_ / "good.yaml").string())), dir_ / "epochs.log", out),
            1)
      << out;
  EXPECT_NE(out.find("--epochs"), std::string::npos) << out;
}

TEST_F(Sweep, RefusesJobsBelowOne) {
  write_config(dir_ / "a.yaml", "resnet20", dir_ / "out" / "a");
  std::string out;
  for (const char* jobs : {"0", "-1"}) {
    for (const char* where : {"--cpu", "--gpus 0"}) {  // refused with GPUs too, where --jobs has no use
      EXPECT_EQ(run(fmt::format("{}/tools/sweep --train {} {} --dry-run --jobs {} {}", test_support::source_dir(),
                                test_support::train_exe(), where, jobs, (dir_ / "a.yaml").string()),
                    dir_ / "jobs.log", out),
                1)
          << jobs << " " << where << "\n" << out;
      EXPECT_NE(out.find(fmt::format("sweep: --jobs must be >= 1 (got {})", jobs)), std::string::npos) << out;
    }
  }
}

// An interrupted sweep: one run stopped after epoch 1 of 2, the other never started.
TEST_F(Sweep, ResumeContinuesTheRunsThatStartedAndStartsTheOthers) {
  write_config(dir_ / "a.yaml", "resnet20", dir_ / "out" / "a");
  write_config(dir_ / "b.yaml", "resnet20", dir_ / "out" / "b");
  ASSERT_NO_FATAL_FAILURE(interrupted_run(dir_ / "a.yaml"));
  const std::string configs = fmt::format("{} {}", (dir_ / "a.yaml").string(), (dir_ / "b.yaml").string());
  const std::string a_out = (dir_ / "out" / "a").string(), b_out = (dir_ / "out" / "b").string();
  std::string out;
  // Without --resume: refused before anything starts, naming the folder and the ways on.
  EXPECT_EQ(run(sweep(fmt::format("{} -- --epochs 2 {}", configs, tiny_options())), dir_ / "refused.log", out), 1) << out;
  EXPECT_NE(out.find("1 of 2 output folder(s) already hold an unfinished run: " + a_out + "."), std::string::npos)
      << out;
  EXPECT_NE(out.find("tools/sweep --resume"), std::string::npos) << out;
  EXPECT_NE(out.find("-- --force"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir_ / "out" / "b"));
  EXPECT_FALSE(fs::exists(dir_ / "logs"));
  // -- --force goes to convlab-train, which starts such runs over; with --resume it is refused.
  ASSERT_EQ(run(sweep(fmt::format("--dry-run {} -- --force", configs)), dir_ / "force.log", out), 0) << out;
  EXPECT_NE(out.find("a.yaml --force --device cpu --output " + a_out + "\n"), std::string::npos) << out;
  EXPECT_EQ(run(sweep(fmt::format("--resume --dry-run {} -- --force", configs)), dir_ / "both.log", out), 1) << out;
  EXPECT_NE(out.find("give one"), std::string::npos) << out;

  // --resume: a continues (convlab-train --resume), b starts afresh; both end after epoch 2.
  ASSERT_EQ(run(sweep(fmt::format("--resume --jobs 2 {} -- --epochs 2 {}", configs, tiny_options())), dir_ / "sweep.log",
                out),
            0)
      << out;
  EXPECT_NE(out.find("2 run(s) (1 resumed) on CPU"), std::string::npos) << out;
  EXPECT_NE(out.find("resumed a on CPU"), std::string::npos) << out;
  EXPECT_NE(out.find("started b on CPU"), std::string::npos) << out;
  for (const std::string& name : {"a", "b"}) {
    EXPECT_EQ(MetricsLog::read_csv(dir_ / "out" / name / "metrics.csv").size(), 3u) << name;  // epochs 0, 1 and 2
    std::ifstream log(dir_ / "logs" / (name + ".log"));
    std::string command;
    std::getline(log, command);
    EXPECT_EQ(command.find(" --resume") != std::string::npos, name == "a") << command;
  }

  // Finished runs are no obstacle without --resume (convlab-train reports them complete).
  ASSERT_EQ(run(sweep(fmt::format("--dry-run {} -- --epochs 2", configs)), dir_ / "finished.log", out), 0) << out;
  EXPECT_NE(out.find("a.yaml --epochs 2 --device cpu --output " + a_out + "\n"), std::string::npos) << out;
  // ... unless they are to grow: 3 epochs planned, 2 done.
  EXPECT_EQ(run(sweep(fmt::format("--dry-run {} -- --epochs 3", configs)), dir_ / "grow.log", out), 1) << out;
  EXPECT_NE(out.find("2 of 2 output folder(s) already hold an unfinished run"), std::string::npos) << out;

  // -- --resume is --resume: now both folders hold a run, so both resume.
  ASSERT_EQ(run(sweep(fmt::format("--dry-run {} -- --resume", configs)), dir_ / "dry.log", out), 0) << out;
  EXPECT_NE(out.find("a.yaml --device cpu --output " + a_out + " --resume\n"), std::string::npos) << out;
  EXPECT_NE(out.find("b.yaml --device cpu --output " + b_out + " --resume\n"), std::string::npos) << out;
}

// tools/sweep.slurm runs the command tools/sweep would: a folder holding an unfinished run is
// refused unless --resume comes first, which resumes that task's run and starts the others afresh.
TEST_F(Sweep, SlurmTasksResumeWithResume) {
  if (std::system("bash -c true > /dev/null 2>&1") != 0) GTEST_SKIP() << "bash is not installed";
  write_config(dir_ / "a.yaml", "resnet20", dir_ / "out" / "a");
  write_config(dir_ / "b.yaml", "resnet20", dir_ / "out" / "b");
  ASSERT_NO_FATAL_FAILURE(interrupted_run(dir_ / "a.yaml"));
  auto task = [&](int index, const std::string& resume) {
    return fmt::format(
        "cd {} && SLURM_ARRAY_TASK_ID={} SLURM_SUBMIT_DIR={} CONVLAB_TRAIN={} CUDA_VISIBLE_DEVICES= OMP_NUM_THREADS=1 "
        "bash {}/tools/sweep.slurm {} {} {} -- --epochs 2 {}",
        dir_.string(), index, test_support::source_dir(), test_support::train_exe(), test_support::source_dir(), resume,
        (dir_ / "a.yaml").string(), (dir_ / "b.yaml").string(), tiny_options());
  };
  std::string out;
  EXPECT_EQ(run(task(0, ""), dir_ / "task0.log", out), 1) << out;
  EXPECT_NE(out.find("already hold an unfinished run: " + (dir_ / "out" / "a").string()), std::string::npos) << out;
  EXPECT_NE(out.find("--resume"), std::string::npos) << out;
  EXPECT_EQ(MetricsLog::read_csv(dir_ / "out" / "a" / "metrics.csv").size(), 2u);  // untouched

  ASSERT_EQ(run(task(0, "--resume"), dir_ / "task0-resume.log", out), 0) << out;
  EXPECT_NE(out.find("--output " + (dir_ / "out" / "a").string() + " --resume\n"), std::string::npos) << out;
  EXPECT_EQ(MetricsLog::read_csv(dir_ / "out" / "a" / "metrics.csv").size(), 3u) << out;
  ASSERT_EQ(run(task(1, "--resume"), dir_ / "task1-resume.log", out), 0) << out;
  EXPECT_NE(out.find("--output " + (dir_ / "out" / "b").string() + "\n"), std::string::npos) << out;  // a fresh run
  EXPECT_EQ(MetricsLog::read_csv(dir_ / "out" / "b" / "metrics.csv").size(), 3u) << out;
}

// tools/sweep.slurm --output-root DIR (before the configs, in either order with --resume; as
// tools/reproduce submits it) puts the task's run in DIR/<config name>, not its experiment_dir.
TEST_F(Sweep, SlurmTasksTakeAnOutputRoot) {
  if (std::system("bash -c true > /dev/null 2>&1") != 0) GTEST_SKIP() << "bash is not installed";
  write_config(dir_ / "a.yaml", "all_cnn_c", dir_ / "out" / "a");
  const fs::path root = dir_ / "root";
  std::string out;
  ASSERT_EQ(run(fmt::format("cd {} && SLURM_ARRAY_TASK_ID=0 SLURM_SUBMIT_DIR={} CONVLAB_TRAIN={} CUDA_VISIBLE_DEVICES= "
                            "OMP_NUM_THREADS=1 bash {}/tools/sweep.slurm --output-root {} --resume {} -- {}",
                            dir_.string(), test_support::source_dir(), test_support::train_exe(),
                            test_support::source_dir(), root.string(), (dir_ / "a.yaml").string(), tiny_options()),
                dir_ / "task.log", out),
            0) << out;
  EXPECT_NE(out.find("--output " + (root / "a").string() + "\n"), std::string::npos) << out;
  EXPECT_EQ(MetricsLog::read_csv(root / "a" / "metrics.csv").size(), 2u) << out;
  EXPECT_FALSE(fs::exists(dir_ / "out" / "a")) << out;
  EXPECT_EQ(run(fmt::format("SLURM_ARRAY_TASK_ID=0 bash {}/tools/sweep.slurm --output-root", test_support::source_dir()),
                dir_ / "bad.log", out),
            2) << out;
  EXPECT_NE(out.find("--output-root needs a folder"), std::string::npos) << out;
}
