// What a checkpoint says about itself (format version 2), that older checkpoints still load
// and newer ones are refused, and the run records of --device auto.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "framework/analysis/model_loader.h"
#include "framework/backend/cuda_device.h"
#include "framework/core/version.h"
#include "framework/data/cifar10_classes.h"
#include "framework/train/checkpoint.h"
#include "framework/train/trainer.h"
#include "models/registry.h"
#include "tests/support/error_of.h"
#include "tests/support/scratch_dir.h"
#include "tests/support/tiny_image_folder.h"

namespace fs = std::filesystem;
using namespace convlab;
using test_support::error_of;
using Json = nlohmann::json;

namespace {

std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class CheckpointFormat : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test_support::fresh_test_dir("ckpt-format");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A model's tensors with the metadata a checkpoint of format 1 had (before this format).
  fs::path write_format_1_checkpoint(const std::string& name) {
    ModelSection section;
    auto model = models::make_model(section, 3);
    const fs::path file = dir_ / name;
    save_checkpoint(file, *model, nullptr,
                    {{"format", "convlab-checkpoint-1"}, {"model", model->description()}, {"model_name", "all_cnn_c"},
                     {"depth", "1"}, {"num_classes", "10"}, {"batchnorm", "true"}, {"epoch", "7"},
                     {"updates", "70"}, {"seed", "3"}});
    return file;
  }

  // The same tensors, the metadata edited by `edit`.
  fs::path rewrite(const fs::path& file, const std::string& name,
                   const std::function<void(std::map<std::string, std::string>&)>& edit) {
    SafetensorsFile content = read_safetensors(file);
    edit(content.metadata);
    const fs::path out = dir_ / name;
    write_safetensors(out, content.arrays, content.metadata);
    return out;
  }
  fs::path dir_;
};

}  // namespace

TEST_F(CheckpointFormat, TrainedCheckpointsDescribeThemselves) {
  test_support::write_tiny_image_folder(dir_ / "data", 3, 1);
  TrainOptions o;
  o.make_model = models::make_model;
  o.data = dir_ / "data";
  o.cache_dir = dir_ / "cache";
  o.quiet = true;
  o.device = "auto";
  o.config.train.num_epochs = 1;
  o.config.train.train_data_size = 16;
  o.config.train.batch_size = 16;
  o.config.log.experiment_dir = (dir_ / "run").string();
  train(o);

  const SafetensorsFile file = read_safetensors(dir_ / "run" / "checkpoints" / "epoch_0001.safetensors");
  const auto& m = file.metadata;
  EXPECT_EQ(m.at("format"), "convlab-checkpoint-2");
  EXPECT_EQ(m.at("format_version"), std::to_string(kCheckpointFormatVersion));
  EXPECT_EQ(m.at("convlab_version"), version());
  EXPECT_EQ(m.at("same_padding"), "xla");
  EXPECT_EQ(m.at("activations"), "NCHW");
  EXPECT_EQ(m.at("conv_weight"), "OIHW");
  EXPECT_EQ(m.at("epoch"), "1");
  EXPECT_EQ(m.at("updates"), "1");
  EXPECT_EQ(Json::parse(m.at("input_mean")), Json::parse("[0.4914, 0.4822, 0.4465]"));
  EXPECT_EQ(Json::parse(m.at("input_std")), Json::parse("[0.2023, 0.1994, 0.2010]"));
  EXPECT_EQ(Json::parse(m.at("class_names")).get<std::vector<std::string>>(), cifar10_class_names());
  EXPECT_EQ(parse_config(m.at("config"), "checkpoint config"), o.config);
  EXPECT_NE(m.at("device").find("chosen by --device auto"), std::string::npos) << m.at("device");

  // Depth 1: conv1, conv2 (1a), conv3 = 1b with stride 2 and SAME; conv7 = 3b VALID.
  const Json layers = Json::parse(m.at("layers"));
  EXPECT_EQ(layers.at("conv1"), Json::parse(R"({"type": "conv2d", "kernel": 3, "stride": 1, "padding": "same"})"));
  EXPECT_EQ(layers.at("conv3").at("stride"), 2);
  EXPECT_EQ(layers.at("conv7").at("padding"), "valid");
  EXPECT_EQ(layers.at("conv9").at("kernel"), 1);
  EXPECT_EQ(layers.at("bn1"), Json::parse(R"({"type": "batchnorm2d", "eps": 1e-5, "momentum": 0.1})"));
  EXPECT_EQ(Json::parse(m.at("feature_names")).size(), 10u);

  // config.yaml names convlab's version and the device in comments, and reads back as the config.
  // The run took --device auto: the GPU where one answers (here, or on a GPU machine), else the CPU.
  const std::string yaml = read_text(dir_ / "run" / "config.yaml");
  const std::string device = cuda_available() ? "cuda:0" : "cpu";
  EXPECT_EQ(yaml.rfind(fmt::format("# convlab {}\n# device: {}", version(), device), 0), 0u) << yaml;
  EXPECT_NE(yaml.find("\n# test images per evaluation: 10\n"), std::string::npos) << yaml;  // the tiny set's 10
  EXPECT_EQ(parse_config(yaml, "config.yaml"), o.config);
}

TEST_F(CheckpointFormat, ResNetLayersRecordTheirSymmetricPadding) {
  ModelSection section;
  section.name = "resnet20";
  auto model = models::make_model(section, 0);
  TrainConfig config;
  config.model = section;
  const auto m = checkpoint_metadata(*model, config, cifar10_class_names(), "cpu", 0, 0);
  const Json layers = Json::parse(m.at("layers"));
  EXPECT_EQ(layers.at("conv1").at("padding"), 1);
  EXPECT_EQ(layers.at("layer2.0.conv1").at("stride"), 2);
  EXPECT_EQ(layers.at("layer2.0.conv1").at("padding"), 1);
  EXPECT_EQ(layers.at("layer2.0.downsample.0").at("padding"), "valid");
  EXPECT_EQ(layers.at("layer2.0.downsample.1").at("type"), "batchnorm2d");
  EXPECT_EQ(layers.at("fc").at("type"), "linear");
  EXPECT_EQ(m.at("linear_weight"), "OI");
}

TEST_F(CheckpointFormat, FormatOneCheckpointsStillLoad) {
  const fs::path old = write_format_1_checkpoint("old.safetensors");
  EXPECT_EQ(checkpoint_format_version(read_safetensors(old).metadata), 1);
  const LoadedModel loaded = load_model(old, models::make_model, cpu());
  EXPECT_EQ(loaded.epoch, 7);
  // The same as a resume file: load_checkpoint with the model alone.
  ModelSection section;
  auto model = models::make_model(section, 0);
  EXPECT_EQ(load_checkpoint(old, *model, nullptr).at("updates"), "70");
  // Without any format key at all (hand-made files): format 1 as well.
  const fs::path bare = rewrite(old, "bare.safetensors", [](auto& m) { m.erase("format"); });
  EXPECT_EQ(checkpoint_format_version(read_safetensors(bare).metadata), 1);
  EXPECT_NO_THROW(load_model(bare, models::make_model, cpu()));
}

TEST_F(CheckpointFormat, NewerFormatsAreRefusedWithAClearError) {
  const fs::path old = write_format_1_checkpoint("old.safetensors");
  const fs::path newer = rewrite(old, "newer.safetensors", [](auto& m) {
    m["format"] = "convlab-checkpoint-3";
    m["format_version"] = "3";
  });
  for (const std::string& what : {error_of([&] { load_model(newer, models::make_model, cpu()); }), error_of([&] {
         ModelSection section;
         auto model = models::make_model(section, 0);
         load_checkpoint(newer, *model, nullptr);
       })}) {
    EXPECT_NE(what.find("newer.safetensors is a convlab checkpoint of format version 3"), std::string::npos) << what;
    EXPECT_NE(what.find("update convlab"), std::string::npos) << what;
  }
  // The version in `format` alone counts too.
  const fs::path by_name = rewrite(old, "by_name.safetensors", [](auto& m) { m["format"] = "convlab-checkpoint-12"; });
  EXPECT_NE(error_of([&] { load_model(by_name, models::make_model, cpu()); }).find("format version 12"),
            std::string::npos);
  const fs::path garbled = rewrite(old, "garbled.safetensors", [](auto& m) { m["format_version"] = "two"; });
  const std::string what = error_of([&] { load_model(garbled, models::make_model, cpu()); });
  EXPECT_NE(what.find("garbled.safetensors: the checkpoint's format version 'two'"), std::string::npos) << what;
}

TEST(DeviceChoice, AutoTakesTheGpuWhenOneAnswersElseTheCpu) {
  const DeviceHandle handle("auto");
  EXPECT_EQ(handle.device().is_cuda(), cuda_available());
  EXPECT_NE(handle.choice().find("chosen by --device auto"), std::string::npos) << handle.choice();
  if (!cuda_available()) EXPECT_EQ(handle.choice().rfind("cpu, ", 0), 0u) << handle.choice();
  EXPECT_EQ(DeviceHandle("cpu").choice(), "cpu");
  const std::string what = error_of([] { DeviceHandle("gpu"); });
  EXPECT_NE(what.find("the device is auto, cpu or cuda, not 'gpu'"), std::string::npos) << what;
}
