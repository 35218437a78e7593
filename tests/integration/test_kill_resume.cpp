// kill -9 never loses a checkpoint: a tiny training is killed by PID at points between its
// writes (a test hook, $CONVLAB_PAUSE_AT, stops it exactly there) and at an arbitrary moment,
// resumed, and must end with the uninterrupted run's metrics bit for bit, every checkpoint
// byte for byte, a plot of every epoch and no leftovers. Needs no CIFAR-10: the data are a
// generated image folder.
#include <fmt/core.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "framework/io/metrics_log.h"
#include "framework/io/safetensors.h"
#include "tests/support/run_comparison.h"
#include "tests/support/tiny_image_folder.h"

namespace fs = std::filesystem;
using namespace convlab;

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kConfig = R"(train_config:
  seed_id: 3
  train_data_size: 8
  batch_size: 4
  num_epochs: 4
  decay_after_epochs: [2]
log_config:
  save_every_k_ckpt: 2
model_config:
  dropout_input: 0.1
  dropout_hidden: 0.2
)";

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}


class KillResume : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / fmt::format("convlab-kill-resume-{}", getpid());
    fs::remove_all(dir_);
    test_support::write_tiny_image_folder(dir_ / "data", 2, 1);
    std::ofstream(dir_ / "config.yaml") << kConfig;
    // The reference: the same training, never interrupted. Every run folder is called "run",
    // so that the plots' titles match.
    const int status = wait_for_exit(start(dir_ / "straight" / "run", false, ""));
    ASSERT_EQ(status, 0) << read_all(dir_ / "straight" / "log.txt");
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  // Starts convlab-train on the tiny data; its output goes to <run>/../log.txt.
  static pid_t start(const fs::path& run, bool resume, const std::string& pause_at) {
    fs::create_directories(run.parent_path());
    std::vector<std::string> args = {CONVLAB_TRAIN_EXE,
                                     (dir_ / "config.yaml").string(),
                                     "--data",
                                     (dir_ / "data").string(),
                                     "--cache-dir",
                                     (dir_ / "cache").string(),
                                     "--output",
                                     run.string(),
                                     "--eval-examples",
                                     "4",
                                     "--quiet",
                                     "--device",  // the bytes of runs are compared: the CPU's
                                     "cpu"};
    if (resume) args.push_back("--resume");
    const std::string log = (run.parent_path() / "log.txt").string();
    const pid_t pid = fork();
    if (pid == 0) {
      if (pause_at.empty())
        unsetenv("CONVLAB_PAUSE_AT");
      else
        setenv("CONVLAB_PAUSE_AT", pause_at.c_str(), 1);
      setenv("OMP_NUM_THREADS", "1", 1);
      if (!freopen(log.c_str(), "a", stdout) || !freopen(log.c_str(), "a", stderr)) _exit(126);
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    return pid;
  }

  static int wait_for_exit(pid_t pid) {
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  // Waits until the process stops itself at its pause point (true) or exits (false).
  static bool wait_for_pause(pid_t pid) {
    const auto deadline = Clock::now() + std::chrono::seconds(120);
    while (Clock::now() < deadline) {
      int status = 0;
      const pid_t got = waitpid(pid, &status, WUNTRACED | WNOHANG);
      if (got == pid && WIFSTOPPED(status)) return true;
      if (got == pid) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  static void kill_now(pid_t pid) {
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  }

  // Runs with a pause point, kills the process there, and returns its run folder.
  static void kill_at(const fs::path& run, bool resume, const std::string& pause_at) {
    const pid_t pid = start(run, resume, pause_at);
    ASSERT_TRUE(wait_for_pause(pid)) << "never reached " << pause_at << ": " << read_all(run.parent_path() / "log.txt");
    kill_now(pid);
  }

  // Resumes to the end and compares with the uninterrupted run.
  static void resume_and_compare(const fs::path& run) {
    ASSERT_EQ(wait_for_exit(start(run, true, "")), 0) << read_all(run.parent_path() / "log.txt");
    const fs::path straight = dir_ / "straight" / "run";
    EXPECT_EQ(test_support::metrics_without_times(run / "metrics.csv"),
              test_support::metrics_without_times(straight / "metrics.csv"));
    const std::string jsonl = read_all(run / "metrics.jsonl");
    EXPECT_EQ(std::count(jsonl.begin(), jsonl.end(), '\n'), 5) << jsonl;  // epochs 0 (at init) to 4
    for (const fs::directory_entry& entry : fs::directory_iterator(straight / "checkpoints")) {
      const fs::path mine = run / "checkpoints" / entry.path().filename();
      ASSERT_TRUE(fs::exists(mine)) << mine << " is lost";
      const SafetensorsFile a = read_safetensors(entry.path()), b = read_safetensors(mine);
      ASSERT_EQ(a.arrays.size(), b.arrays.size()) << mine;
      for (size_t i = 0; i < a.arrays.size(); ++i) EXPECT_EQ(a.arrays[i].bytes, b.arrays[i].bytes) << mine;
      EXPECT_EQ(test_support::metadata_without_run_folder(a.metadata),
                test_support::metadata_without_run_folder(b.metadata)) << mine;
    }
    size_t checkpoints = 0;
    for ([[maybe_unused]] const auto& entry : fs::directory_iterator(run / "checkpoints")) ++checkpoints;
    EXPECT_EQ(checkpoints, 3u);  // epochs 0, 2 and 4
    // The plot shows every epoch: it is the uninterrupted run's, byte for byte.
    EXPECT_EQ(read_all(run / "learning_curve.png"), read_all(straight / "learning_curve.png"));
    for (const fs::path& folder : {run, run / "checkpoints"})
      for (const fs::directory_entry& entry : fs::directory_iterator(folder))
        EXPECT_NE(entry.path().extension(), ".tmp") << "leftover " << entry.path();
    // And it reports the final accuracy, not 0.00%.
    const std::string log = read_all(run.parent_path() / "log.txt");
    const std::string straight_log = read_all(dir_ / "straight" / "log.txt");
    const auto final_line = [](const std::string& text) {
      const size_t at = text.rfind("test accuracy");
      return at == std::string::npos ? std::string("(none)") : text.substr(at, text.find('\n', at) - at);
    };
    EXPECT_EQ(final_line(log), final_line(straight_log));
  }

  static fs::path dir_;
};

fs::path KillResume::dir_;

struct PausePoint {
  const char* name;
  const char* where;
};

// Every point between two writes of an epoch, in the first epoch (no resume file yet), in a
// checkpoint epoch, and in the last one.
const PausePoint kPoints[] = {
    {"metrics-row-written#1", "epoch 1: the row written, no resume file yet"},
    {"metrics-row-written#2", "epoch 2: the row written, neither checkpoint"},
    {"epoch-checkpoint-written#1", "epoch 2: between the epoch checkpoint and the resume file"},
    {"before-rename:resume.safetensors#3", "epoch 3: the resume file written, not yet renamed"},
    {"resume-written#3", "epoch 3: the resume file written, the plot not yet"},
    {"epoch-checkpoint-written#2", "epoch 4 (the last): between the epoch checkpoint and the resume file"},
    {"resume-written#4", "epoch 4 (the last): everything but the plot"},
};

}  // namespace

TEST_F(KillResume, AtEveryPointBetweenWrites) {
  int index = 0;
  for (const PausePoint& point : kPoints) {
    SCOPED_TRACE(point.where);
    const fs::path run = dir_ / fmt::format("point-{}", index++) / "run";
    kill_at(run, false, point.name);
    resume_and_compare(run);
  }
}

TEST_F(KillResume, TwiceInARowThenAtAnArbitraryMoment) {
  const fs::path run = dir_ / "twice" / "run";
  kill_at(run, false, "epoch-checkpoint-written#1");  // epoch 2
  kill_at(run, true, "resume-written#1");             // epoch 2 again, now past its resume file
  resume_and_compare(run);

  // No hook: killed wherever it is once the first epoch has ended.
  const fs::path anywhere = dir_ / "anywhere" / "run";
  const pid_t pid = start(anywhere, false, "");
  const auto deadline = Clock::now() + std::chrono::seconds(120);
  while (Clock::now() < deadline &&
         (!fs::exists(anywhere / "metrics.csv") || MetricsLog::read_csv(anywhere / "metrics.csv").empty()))
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  resume_and_compare(anywhere);
}

TEST_F(KillResume, ASecondRunOnAFolderInUseIsRefusedAndTheFirstFinishesIntact) {
  const fs::path run = dir_ / "busy" / "run";
  const pid_t first = start(run, false, "metrics-row-written#2");  // stopped in epoch 2, holding the folder
  ASSERT_TRUE(wait_for_pause(first)) << read_all(run.parent_path() / "log.txt");
  for (const bool resume : {false, true}) {
    const int status = wait_for_exit(start(run, resume, ""));
    EXPECT_EQ(status, 1) << read_all(run.parent_path() / "log.txt");
  }
  const std::string refused = read_all(run.parent_path() / "log.txt");
  EXPECT_NE(refused.find(fmt::format("{} is in use by pid {}", run.string(), first)), std::string::npos) << refused;
  EXPECT_NE(refused.find("writing a training run (convlab-train)"), std::string::npos) << refused;
  ASSERT_EQ(kill(first, SIGCONT), 0);
  ASSERT_EQ(wait_for_exit(first), 0) << read_all(run.parent_path() / "log.txt");
  resume_and_compare(run);  // a resume of the finished run, and the run is the uninterrupted one
  // The lock of a killed run is taken over by its resume, which says so.
  const fs::path killed = dir_ / "taken-over" / "run";
  kill_at(killed, false, "resume-written#1");
  resume_and_compare(killed);
  EXPECT_NE(read_all(killed.parent_path() / "log.txt").find("took over the folder from pid"), std::string::npos);
}
