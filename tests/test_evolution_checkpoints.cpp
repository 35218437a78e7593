// The checkpoints convlab-analyze evolution compares: listed by the epoch their metadata
// give, all of the final checkpoint's network, each epoch once, and every file that does not
// fit named.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "framework/analysis/evolution.h"
#include "framework/core/error.h"
#include "framework/data/cifar10_classes.h"
#include "framework/train/checkpoint.h"
#include "models/registry.h"
#include "tests/support/error_of.h"
#include "tests/support/scratch_dir.h"

namespace convlab {
namespace {

namespace fs = std::filesystem;
using test_support::error_of;

class EvolutionCheckpoints : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test_support::fresh_test_dir("evolution");
    run_ = dir_ / "run";
    fs::create_directories(run_ / "checkpoints");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A checkpoint as the trainer writes it (checkpoint_metadata), of `section`'s network at
  // `epoch`, under `name` (default epoch_NNNN.safetensors), with `changes` to its metadata
  // (an empty value removes the key).
  fs::path write(int64_t epoch, const ModelSection& section = {}, std::string name = {},
                 const std::map<std::string, std::string>& changes = {}) {
    TrainConfig config;
    config.model = section;
    auto model = models::make_model(section, static_cast<uint64_t>(epoch) + 1);
    std::map<std::string, std::string> meta =
        checkpoint_metadata(*model, config, cifar10_class_names(), "cpu", epoch, epoch * 10);
    for (const auto& [key, value] : changes) {
      if (value.empty())
        meta.erase(key);
      else
        meta[key] = value;
    }
    if (name.empty()) name = fmt::format("epoch_{:04d}.safetensors", epoch);
    const fs::path file = run_ / "checkpoints" / name;
    save_checkpoint(file, *model, nullptr, meta);
    return file;
  }

  std::string listing_error() {
    return error_of([&] { list_checkpoints(run_); });
  }

  fs::path dir_, run_;
};

ModelSection resnet20() {
  ModelSection section;
  section.name = "resnet20";
  return section;
}

void expect_mentions(const std::string& message, const std::vector<std::string>& parts) {
  EXPECT_FALSE(message.empty()) << "no error";
  for (const std::string& part : parts) EXPECT_NE(message.find(part), std::string::npos) << part << " in: " << message;
}

TEST_F(EvolutionCheckpoints, ListsARunByEpoch) {
  for (int64_t epoch : {0, 10, 5, 350}) write(epoch);
  std::ofstream(run_ / "checkpoints" / "notes.txt") << "not a checkpoint";
  std::ofstream(run_ / "checkpoints" / "epoch_0003.safetensors.1234@host.tmp") << "a killed write";
  for (const fs::path& where : {run_, run_ / "checkpoints"}) {
    const std::vector<RunCheckpoint> list = list_checkpoints(where);
    ASSERT_EQ(list.size(), 4u);
    const std::vector<int64_t> epochs = {list[0].epoch, list[1].epoch, list[2].epoch, list[3].epoch};
    EXPECT_EQ(epochs, (std::vector<int64_t>{0, 5, 10, 350}));
    EXPECT_EQ(list.back().file, run_ / "checkpoints" / "epoch_0350.safetensors");
  }
  expect_mentions(error_of([&] { list_checkpoints(dir_ / "nothing"); }), {"nothing", "not a folder"});
}

TEST_F(EvolutionCheckpoints, AnotherNetworkAmongTheCheckpointsIsNamed) {
  write(0);
  write(5);
  write(10);
  const fs::path stray = write(7, resnet20());
  expect_mentions(listing_error(),
                  {stray.string(), "epoch_0010.safetensors", "model_name resnet20", "model_name all_cnn_c",
                   "move it out of"});

  // The same whichever way the networks differ: depth, BatchNorm, classes.
  fs::remove(stray);
  ModelSection deeper;
  deeper.depth = 2;
  const fs::path deep = write(7, deeper);
  expect_mentions(listing_error(), {deep.string(), "depth 2", "depth 1"});
  fs::remove(deep);
  ModelSection plain;
  plain.batchnorm = false;
  const fs::path no_bn = write(7, plain);
  expect_mentions(listing_error(), {no_bn.string(), "batchnorm false"});
  fs::remove(no_bn);
  ModelSection hundred;
  hundred.num_classes = 100;
  const fs::path cifar100 = write(7, hundred);
  expect_mentions(listing_error(), {cifar100.string(), "num_classes 100"});
  fs::remove(cifar100);
  EXPECT_EQ(list_checkpoints(run_).size(), 3u);
}

TEST_F(EvolutionCheckpoints, TensorsMustMatchTheFinalNetworksToo) {
  write(0);
  write(10);
  // Depth-2 tensors under depth-1 metadata: only the tensors tell.
  ModelSection deeper;
  deeper.depth = 2;
  const fs::path odd = write(5, deeper, "", {{"depth", "1"}});
  expect_mentions(listing_error(), {odd.string(), "tensor"});
}

TEST_F(EvolutionCheckpoints, TheMetadataEpochRulesAndMustMatchTheName) {
  write(0);
  write(10);
  // A checkpoint renamed by hand: epoch 5's file called epoch 50 would be plotted at 50.
  const fs::path renamed = write(5, {}, "epoch_0050.safetensors");
  expect_mentions(listing_error(), {renamed.string(), "name says epoch 50", "metadata say epoch 5",
                                    "epoch_0005.safetensors"});
  fs::remove(renamed);

  // Without an epoch in its metadata, a checkpoint is taken at its name's word.
  write(5, {}, "", {{"epoch", ""}});
  const std::vector<RunCheckpoint> list = list_checkpoints(run_);
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[1].epoch, 5);

  const fs::path bad = write(7, {}, "", {{"epoch", "seven"}});
  expect_mentions(listing_error(), {bad.string(), "'epoch'", "seven"});
}

TEST_F(EvolutionCheckpoints, TwoFilesOfOneEpochAreBothNamed) {
  write(0);
  const fs::path a = write(1, {}, "epoch_1.safetensors");
  const fs::path b = write(1, {}, "epoch_0001.safetensors");
  write(10);
  expect_mentions(listing_error(), {a.string(), b.string(), "both epoch 1"});
}

TEST_F(EvolutionCheckpoints, NumbersOutOfRangeAndBrokenFilesNameTheFile) {
  write(0);
  write(10);
  const fs::path huge = run_ / "checkpoints" / "epoch_99999999999999999999.safetensors";
  fs::copy_file(run_ / "checkpoints" / "epoch_0010.safetensors", huge);
  std::string message = listing_error();
  expect_mentions(message, {huge.string(), "out of range"});
  EXPECT_EQ(message.find("stoll"), std::string::npos) << message;
  fs::remove(huge);

  const fs::path large = run_ / "checkpoints" / "epoch_9999999.safetensors";  // fits int64, not the epoch range
  fs::copy_file(run_ / "checkpoints" / "epoch_0010.safetensors", large);
  expect_mentions(listing_error(), {large.string(), "out of range"});
  fs::remove(large);

  const fs::path empty = run_ / "checkpoints" / "epoch_0005.safetensors";
  std::ofstream(empty).close();
  expect_mentions(listing_error(), {empty.string(), "too short"});
  std::ofstream(empty, std::ios::binary) << std::string("\x10\0\0\0\0\0\0\0{\"a\": [[[[", 18) << std::string(8, ' ');
  expect_mentions(listing_error(), {empty.string(), "header"});
}

}  // namespace
}  // namespace convlab
