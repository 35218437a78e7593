// End to end on the real CIFAR-10 copy (ctest -L integration): train All-CNN-C depth 1 v2
// (the reference's config) on a training subset on the CPU, check that it learns, and that a
// run stopped and resumed reproduces the uninterrupted run exactly.
//
// Data: $CIFAR10_DIR, else ../shared/data/cifar10-jpg.tar.gz beside the checkout; without
// either the tests skip.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <sys/wait.h>

#include "framework/io/metrics_log.h"
#include "framework/io/safetensors.h"
#include "tests/integration/cifar10_source.h"
#include "framework/train/trainer.h"
#include "models/registry.h"

namespace fs = std::filesystem;
using namespace convlab;
using test_support::cifar10_source;

namespace {


class Cifar10Training : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = cifar10_source();
    if (!source_)
      GTEST_SKIP() << "CIFAR-10 not found: set CIFAR10_DIR to the data (binary folder, image folder or .tar.gz) "
                      "or put cifar10-jpg.tar.gz in ../shared/data";
    dir_ = fs::temp_directory_path() / fmt::format("convlab-integration-{}", ::getpid());
  }
  void TearDown() override { fs::remove_all(dir_); }

  TrainOptions options(const std::string& run) {
    TrainOptions o;
    o.config = load_config(fs::path(CONVLAB_SOURCE_DIR) / "configs" / "all_cnn_depth_1_v2_seed_0.yaml");
    o.config_source = "all_cnn_depth_1_v2_seed_0.yaml";
    o.make_model = models::make_model;
    o.data = *source_;
    if (const char* cache = std::getenv("CONVLAB_CACHE_DIR")) o.cache_dir = cache;
    o.config.log.experiment_dir = (dir_ / run).string();
    o.quiet = true;
    o.device = "cpu";  // bit-exact resume between runs is a promise of the CPU
    return o;
  }
  std::optional<fs::path> source_;
  fs::path dir_;
};

}  // namespace

TEST_F(Cifar10Training, DepthOneV2LearnsOnASubset) {
  // 2,048 training images, batch 64, 3 epochs (96 updates), 500 test images.
  TrainOptions o = options("learn");
  o.config.train.train_data_size = 2048;
  o.config.train.batch_size = 64;
  o.config.train.num_epochs = 3;
  o.eval_examples = 500;
  const TrainSummary summary = train(o);
  std::fprintf(stderr, "test accuracy after %lld updates: %.2f%% (%.0f s)\n", static_cast<long long>(summary.updates),
               100 * summary.final_test_acc, summary.seconds);
  EXPECT_GE(summary.final_test_acc, 0.30);
  // Epoch 0 is the network at init: about chance, below where training got it.
  const auto rows = MetricsLog::read_csv(dir_ / "learn" / "metrics.csv");
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].epoch, 0);
  EXPECT_LT(rows[0].test_acc, 0.2);
  EXPECT_LT(rows[0].test_acc, summary.final_test_acc);
}

TEST_F(Cifar10Training, ResumeIsBitExact) {
  // 160 images in batches of 64 (the last one partial), 3 epochs; stopped after epoch 1, then
  // resumed for epochs 2 and 3.
  auto small = [&](const std::string& run) {
    TrainOptions o = options(run);
    o.config.train.train_data_size = 160;
    o.config.train.batch_size = 64;
    o.config.train.num_epochs = 3;
    o.config.log.save_every_k_ckpt = 1;
    o.eval_examples = 100;
    return o;
  };
  train(small("straight"));
  TrainOptions first = small("resumed");
  first.stop_after_epoch = 1;
  train(first);
  TrainOptions rest = small("resumed");
  rest.resume = true;
  train(rest);
  const auto a = MetricsLog::read_csv(dir_ / "straight" / "metrics.csv");
  const auto b = MetricsLog::read_csv(dir_ / "resumed" / "metrics.csv");
  ASSERT_EQ(a.size(), 4u);  // epochs 0 (at init) to 3
  ASSERT_EQ(b.size(), 4u);
  EXPECT_TRUE(std::isnan(a[0].train_loss) && std::isnan(b[0].train_loss));  // nothing trained at init
  for (size_t i = 0; i < a.size(); ++i) {
    if (i > 0) EXPECT_EQ(a[i].train_loss, b[i].train_loss) << "epoch " << i;
    EXPECT_EQ(a[i].test_loss, b[i].test_loss) << "epoch " << i;
    EXPECT_EQ(a[i].test_acc, b[i].test_acc) << "epoch " << i;
  }
  const auto x = read_safetensors(dir_ / "straight" / "checkpoints" / "epoch_0003.safetensors");
  const auto y = read_safetensors(dir_ / "resumed" / "checkpoints" / "epoch_0003.safetensors");
  for (size_t i = 0; i < x.arrays.size(); ++i) EXPECT_EQ(x.arrays[i].bytes, y.arrays[i].bytes) << x.arrays[i].name;
}

// The README's first command run twice by a newcomer (made short: fewer images, one epoch):
// the second time the run in experiments/smoke is complete, exit 0; another config there is
// refused and the run stays as it was.
TEST_F(Cifar10Training, TheReadmeCommandTwice) {
  fs::create_directories(dir_ / "readme");
  const std::string command =
      fmt::format("cd {} && {} {}/configs/smoke.yaml --eval-examples 100 --train-size 256 --epochs 1 --device cpu "
                  "--quiet --data {}", (dir_ / "readme").string(), CONVLAB_TRAIN_EXE, CONVLAB_SOURCE_DIR, source_->string());
  auto run = [&](const std::string& extra, std::string& log) {
    const int status = std::system((command + extra + " > " + (dir_ / "log.txt").string() + " 2>&1").c_str());
    std::ifstream in(dir_ / "log.txt");
    log.assign(std::istreambuf_iterator<char>(in), {});
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  std::string log;
  ASSERT_EQ(run("", log), 0) << log;
  const fs::path metrics = dir_ / "readme" / "experiments" / "smoke" / "metrics.csv";
  ASSERT_EQ(MetricsLog::read_csv(metrics).size(), 2u);
  auto text = [](const fs::path& file) {
    std::ifstream in(file);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string rows = text(metrics);
  EXPECT_EQ(run("", log), 0) << log;
  EXPECT_NE(log.find("is complete already: 1 epochs"), std::string::npos) << log;
  EXPECT_NE(log.find("--force"), std::string::npos) << log;
  EXPECT_EQ(run(" --seed 1", log), 1) << log;
  EXPECT_NE(log.find("train_config.seed_id: 0 in the run, 1 now"), std::string::npos) << log;
  EXPECT_EQ(text(metrics), rows);
}
