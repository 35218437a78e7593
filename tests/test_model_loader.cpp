// Checkpoints read back for analysis and resume: metadata within the config's ranges,
// tensors counted against the model the metadata describe before it is built, and no NaN.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>

#include "framework/analysis/model_loader.h"
#include "framework/core/error.h"
#include "framework/train/checkpoint.h"
#include "models/all_cnn_c.h"
#include "models/registry.h"
#include "models/resnet.h"
#include "tests/support/scratch_dir.h"

namespace convlab {
namespace {

namespace fs = std::filesystem;

class ModelLoader : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test_support::fresh_test_dir("loader");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A depth-1 All-CNN-C checkpoint as the trainer writes it, with `changes` to its metadata.
  fs::path write_checkpoint(const std::map<std::string, std::string>& changes = {}) {
    ModelSection section;
    auto model = models::make_model(section, 3);
    std::map<std::string, std::string> meta = {
        {"model_name", "all_cnn_c"}, {"depth", "1"}, {"num_classes", "10"}, {"batchnorm", "true"}, {"epoch", "4"}};
    for (const auto& [key, value] : changes) {
      if (value.empty())
        meta.erase(key);
      else
        meta[key] = value;
    }
    const fs::path file = dir_ / "epoch_0004.safetensors";
    save_checkpoint(file, *model, nullptr, meta);
    return file;
  }

  std::string load_error(const fs::path& file) {
    try {
      load_model(file, models::make_model, cpu(), models::state_size);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  fs::path dir_;
};

int64_t built_state_size(nn::Model& model) {
  int64_t values = 0;
  for (const auto& [name, param] : model.named_parameters()) values += param->value().numel();
  for (const auto& [name, buffer] : model.named_buffers()) values += buffer->numel();
  return values;
}

TEST(ModelStateSize, MatchesTheBuiltModels) {
  for (int depth : {1, 2, 3})
    for (bool batchnorm : {true, false})
      for (int classes : {10, 100}) {
        ModelSection section;
        section.depth = depth;
        section.batchnorm = batchnorm;
        section.num_classes = classes;
        EXPECT_EQ(models::state_size(section), built_state_size(*models::make_model(section, 0)))
            << depth << " " << batchnorm << " " << classes;
      }
  ModelSection resnet;
  resnet.name = "resnet20";
  EXPECT_EQ(models::state_size(resnet), built_state_size(*models::make_model(resnet, 0)));
  models::ResNetOptions wide;
  wide.width = 8;
  wide.blocks_per_stage = 2;
  EXPECT_EQ(models::ResNet::state_size(wide), built_state_size(*std::make_unique<models::ResNet>(wide)));
  // The largest depth the config accepts is counted, not built.
  ModelSection deepest;
  deepest.depth = models::kMaxAllCnnCDepth;
  EXPECT_GT(models::state_size(deepest), 100'000'000);
  deepest.depth = models::kMaxAllCnnCDepth + 1;
  EXPECT_THROW(models::state_size(deepest), Error);
}

TEST_F(ModelLoader, LoadsWhatTheTrainerWrites) {
  const LoadedModel loaded = load_model(write_checkpoint(), models::make_model, cpu(), models::state_size);
  EXPECT_EQ(loaded.epoch, 4);
  EXPECT_EQ(loaded.model->feature_names().size(), 10u);
}

TEST_F(ModelLoader, MetadataOutsideTheConfigRangesIsRefused) {
  // depth "100000000" once built an 18 GB model before running out of memory.
  const std::pair<std::map<std::string, std::string>, std::string> cases[] = {
      {{{"depth", "100000000"}}, "metadata 'depth' is 100000000, outside 1..64"},
      {{{"depth", "2147483648"}}, "metadata 'depth' is 2147483648, outside 1..64"},
      {{{"depth", "99999999999999999999"}}, "metadata 'depth' is '99999999999999999999', not a whole number"},
      {{{"num_classes", "abc"}}, "metadata 'num_classes' is 'abc', not a whole number"},
      {{{"num_classes", "1"}}, "metadata 'num_classes' is 1, outside 2..256"},
      {{{"epoch", "-3"}}, "metadata 'epoch' is -3, outside 0..100000"},
      {{{"batchnorm", "yes"}}, "metadata 'batchnorm' is 'yes', not true or false"},
      {{{"depth", ""}}, "has no 'depth' in its metadata"},
      {{{"model_name", ""}}, "has no 'model_name' in its metadata"},
  };
  for (const auto& [changes, expected] : cases) {
    SCOPED_TRACE(expected);
    const fs::path file = write_checkpoint(changes);
    const std::string message = load_error(file);
    EXPECT_NE(message.find(file.string()), std::string::npos) << message;
    EXPECT_NE(message.find(expected), std::string::npos) << message;
    EXPECT_EQ(message.find("stoi"), std::string::npos) << message;
    EXPECT_EQ(message.find("map::at"), std::string::npos) << message;
  }
}

TEST_F(ModelLoader, TensorsAreCountedAgainstTheDescribedModelBeforeItIsBuilt) {
  // A depth-1 file whose metadata say depth 64: refused from the sizes alone, without
  // building the 100-million-parameter net.
  const fs::path file = write_checkpoint({{"depth", "64"}});
  const std::string message = load_error(file);
  EXPECT_NE(message.find("describe all_cnn_c depth 64 with 10 classes"), std::string::npos) << message;
  EXPECT_NE(message.find("the metadata and the tensors disagree"), std::string::npos) << message;
  // Same size, other architecture: the tensor names catch it after the (small) build.
  const std::string other = load_error(write_checkpoint({{"batchnorm", "false"}}));
  EXPECT_NE(other.find("disagree"), std::string::npos) << other;
}

TEST_F(ModelLoader, NanWeightsAreRefusedNamingTheTensor) {
  const fs::path file = write_checkpoint();
  SafetensorsFile state = read_safetensors(file);
  for (NamedArray& array : state.arrays)
    if (array.name == "conv3.weight") {
      const float nan = std::numeric_limits<float>::quiet_NaN();
      std::memcpy(array.bytes.data() + 4 * 17, &nan, 4);
    }
  write_safetensors(file, state.arrays, state.metadata);
  const std::string message = load_error(file);
  EXPECT_NE(message.find(file.string() + ": tensor conv3.weight holds NaN at element 17"), std::string::npos)
      << message;

  // And an infinity in a BatchNorm statistic, through the trainer's loader.
  for (NamedArray& array : state.arrays) {
    if (array.name == "conv3.weight") std::memset(array.bytes.data(), 0, array.bytes.size());
    if (array.name == "bn2.running_var") {
      const float inf = std::numeric_limits<float>::infinity();
      std::memcpy(array.bytes.data(), &inf, 4);
    }
  }
  write_safetensors(file, state.arrays, state.metadata);
  auto model = models::make_model(ModelSection{}, 0);
  try {
    load_checkpoint(file, *model, nullptr);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tensor bn2.running_var holds an infinity at element 0"), std::string::npos)
        << e.what();
  }
}

TEST_F(ModelLoader, MetadataIntegersNameKeyAndFile) {
  const std::map<std::string, std::string> meta = {{"epoch", "12"}, {"bad", "1x"}};
  EXPECT_EQ(metadata_int(meta, "epoch", "f.safetensors", 0, 100), 12);
  try {
    metadata_int(meta, "epoch", "f.safetensors", 0, 10);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("f.safetensors: metadata 'epoch' is 12, outside 0..10"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(metadata_int(meta, "bad", "f.safetensors", 0, 10), Error);
  EXPECT_THROW(metadata_text(meta, "missing", "f.safetensors"), Error);
}

}  // namespace
}  // namespace convlab
