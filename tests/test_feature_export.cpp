// Feature export (convlab-analyze features): the .npy files hold what the network computes for
// the chosen examples, in order, for All-CNN-C and ResNet-20; layer choice, example choice,
// index files, the manifest, the streaming .npy writer underneath, an export replacing its
// folder whole, and what `files` checks of exported files against their manifest.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "framework/analysis/feature_export.h"
#include "framework/analysis/feature_source.h"
#include "framework/autograd/variable.h"
#include "framework/data/cifar10.h"
#include "framework/io/npy.h"
#include "framework/io/file_checksum.h"
#include "framework/io/npy_stream.h"
#include "framework/io/output_folder.h"
#include "framework/train/batches.h"
#include "framework/train/device_dataset.h"
#include "models/registry.h"
#include "tests/support/error_of.h"
#include "tests/support/scratch_dir.h"
#include "tests/support/tiny_image_folder.h"

namespace fs = std::filesystem;
using namespace convlab;
using test_support::error_of;
using Json = nlohmann::json;

namespace {

class FeatureExport : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test_support::fresh_test_dir("features");
  }
  void TearDown() override { fs::remove_all(dir_); }

  const Cifar10& data() {
    if (!data_) {
      test_support::write_tiny_image_folder(dir_ / "data", 2, 2);  // 20 test images
      data_ = load_cifar10(dir_ / "data", dir_ / "cache");
    }
    return *data_;
  }

  // Every feature of the examples `indices` of the test split, from one forward pass each:
  // what the export must have written.
  std::vector<Tensor> reference(nn::Model& model, const std::vector<int32_t>& indices) {
    const DeviceImageSet images = upload(data().test, cpu(), indices);
    model.eval();
    NoGradGuard no_grad;
    Batch batch = assemble_batch(images, identity_order(images.size(), cpu()), 0, images.size(),
                                 kernels::cifar10_augment_config(false, false, false), false, 0, 0);
    std::vector<Variable> features;
    nn::ForwardContext ctx;
    ctx.features = &features;
    model.forward(Variable(std::move(batch.images)), ctx);
    std::vector<Tensor> out;
    for (const Variable& f : features) out.push_back(f.value().clone());
    return out;
  }

  void expect_file_holds(const fs::path& file, const Tensor& expected) {
    const NpyArray array = read_npy(file);
    ASSERT_EQ(array.dtype, DType::f32) << file;
    ASSERT_EQ(array.shape, (std::vector<int64_t>{expected.dim(0), expected.numel() / expected.dim(0)})) << file;
    const float* got = array.data<float>();
    const float* want = expected.host<float>();
    double max_diff = 0, max_value = 0;
    for (int64_t i = 0; i < expected.numel(); ++i) {
      max_diff = std::max(max_diff, std::abs(static_cast<double>(got[i]) - want[i]));
      max_value = std::max(max_value, std::abs(static_cast<double>(want[i])));
    }
    // Batches of 3 against one batch of all: the same arithmetic up to GEMM blocking.
    EXPECT_LE(max_diff, 1e-5 * std::max(1.0, max_value)) << file;
  }

  FeatureExportRequest request(const std::string& name, int64_t batch_size) {
    FeatureExportRequest r;
    r.output = dir_ / name;
    r.batch_size = batch_size;
    r.checkpoint = "run/checkpoints/epoch_0003.safetensors";
    r.checkpoint_metadata = {{"model", "m"}, {"epoch", "3"}, {"input_mean", "[0.4914, 0.4822, 0.4465]"}};
    r.selection = "by the test";
    r.device = "cpu";
    return r;
  }

  fs::path dir_;
  std::optional<Cifar10> data_;
};

}  // namespace

TEST_F(FeatureExport, AllCnnCLayersLogitsLabelsAndIndicesInTheGivenOrder) {
  ModelSection section;
  auto model = models::make_model(section, 5);
  const std::vector<int32_t> indices = {17, 3, 3, 0, 11, 19, 8};  // any order, repeats allowed
  const auto written = export_features(*model, cpu(), data(), data().test, indices, request("out", 3));
  const std::vector<Tensor> expected = reference(*model, indices);
  const std::vector<std::string> names = model->feature_names();
  ASSERT_EQ(expected.size(), names.size());
  for (size_t i = 0; i < names.size(); ++i)
    expect_file_holds(dir_ / "out" / (feature_file_stem(names[i]) + ".npy"), expected[i]);
  EXPECT_TRUE(fs::exists(dir_ / "out" / "conv1_1a.npy"));
  EXPECT_TRUE(fs::exists(dir_ / "out" / "conv3_1b.npy"));
  expect_file_holds(dir_ / "out" / "logits.npy", expected.back());

  const NpyArray images = read_npy(dir_ / "out" / "images.npy");
  ASSERT_EQ(images.shape, (std::vector<int64_t>{7, 3, 32, 32}));
  for (size_t i = 0; i < indices.size(); ++i)
    EXPECT_TRUE(std::equal(images.bytes.begin() + i * 3072, images.bytes.begin() + (i + 1) * 3072,
                           data().test.image(indices[i])))
        << "image " << i;
  const NpyArray labels = read_npy(dir_ / "out" / "labels.npy");
  const NpyArray order = read_npy(dir_ / "out" / "indices.npy");
  EXPECT_EQ(order.values<int32_t>(), indices);
  for (size_t i = 0; i < indices.size(); ++i) EXPECT_EQ(labels.values<int32_t>()[i], data().test.labels[indices[i]]);
  // Nothing half-written is left behind.
  for (const auto& entry : fs::directory_iterator(dir_ / "out"))
    EXPECT_EQ(entry.path().filename().string().find(".partial"), std::string::npos) << entry.path();

  std::ifstream in(dir_ / "out" / "manifest.json");
  const Json manifest = Json::parse(in);
  EXPECT_EQ(manifest["format"], "convlab-features-2");
  EXPECT_EQ(manifest["export_id"].get<std::string>().size(), 16u + 1 + 16);  // 20261206T143000Z-<16 hex digits>
  EXPECT_NE(manifest["checksum"].get<std::string>().find("zlib.crc32"), std::string::npos);
  // Every file, with the shape, size and checksum it has on disk.
  ASSERT_EQ(manifest["files"].size(), written.size());
  for (const Json& f : manifest["files"]) {
    const fs::path file = dir_ / "out" / f["file"].get<std::string>();
    EXPECT_EQ(f["shape"].get<std::vector<int64_t>>(), read_npy_header(file).shape) << file;
    EXPECT_EQ(f["bytes"].get<uint64_t>(), fs::file_size(file)) << file;
    EXPECT_EQ(f["crc32"], fmt::format("{:08x}", file_crc32(file))) << file;
  }
  EXPECT_EQ(manifest["files"].back()["file"], "indices.npy");
  EXPECT_EQ(manifest["files"].back()["shape"], Json::parse("[7]"));
  for (const ExportedArray& a : written) EXPECT_EQ(a.file.parent_path(), dir_ / "out") << a.file;
  EXPECT_EQ(manifest["checkpoint"]["path"], "run/checkpoints/epoch_0003.safetensors");
  EXPECT_EQ(manifest["checkpoint"]["epoch"], "3");
  EXPECT_EQ(manifest["data"]["fingerprint"], fmt::format("{:016x}", data().fingerprint));
  EXPECT_NE(data().fingerprint, 0u);
  EXPECT_EQ(manifest["data"]["examples"], 7);
  EXPECT_EQ(manifest["data"]["split_size"], 20);
  EXPECT_EQ(manifest["data"]["class_names"].size(), 10u);
  EXPECT_EQ(manifest["input"]["mean"], Json::parse("[0.4914, 0.4822, 0.4465]"));
  ASSERT_EQ(manifest["layers"].size(), names.size());
  EXPECT_EQ(manifest["layers"][0]["name"], "conv1 (1a)");
  EXPECT_EQ(manifest["layers"][0]["file"], "conv1_1a.npy");
  EXPECT_EQ(manifest["layers"][0]["shape"], Json::parse("[96, 32, 32]"));
  EXPECT_EQ(manifest["layers"][0]["features"], 96 * 32 * 32);
  EXPECT_EQ(manifest["layers"][2]["shape"], Json::parse("[96, 16, 16]"));  // conv3: stride 2
  EXPECT_EQ(manifest["layers"].back()["file"], "logits.npy");
  EXPECT_EQ(manifest["logits"]["shape"], Json::parse("[10]"));
  EXPECT_NE(manifest["flattening"].get<std::string>().find("(c * H + h) * W + w"), std::string::npos);
  EXPECT_EQ(written.size(), names.size() + 3);  // the layers (logits among them), images, labels, indices
  EXPECT_EQ(manifest["images"]["file"], "images.npy");

  // `files` reads the exported layers back.
  NpyFeatureSource back({dir_ / "out" / "conv3_1b.npy", dir_ / "out" / "logits.npy"});
  EXPECT_EQ(back.examples(), 7);
  EXPECT_EQ(back.layer_names(), (std::vector<std::string>{"conv3_1b", "logits"}));
}

TEST_F(FeatureExport, ResNet20LayersAndChosenLayersOnly) {
  ModelSection section;
  section.name = "resnet20";
  auto model = models::make_model(section, 2);
  const std::vector<int32_t> indices = {4, 9, 1, 15, 0};
  FeatureExportRequest r = request("resnet", 2);
  r.layers = {"stem", "layer2.0", "pool"};
  export_features(*model, cpu(), data(), data().test, indices, r);
  const std::vector<Tensor> expected = reference(*model, indices);
  const std::vector<std::string> names = model->feature_names();
  for (const std::string& layer : r.layers) {
    const size_t at = std::find(names.begin(), names.end(), layer) - names.begin();
    ASSERT_LT(at, names.size()) << layer;
    expect_file_holds(dir_ / "resnet" / (layer + ".npy"), expected[at]);
  }
  expect_file_holds(dir_ / "resnet" / "logits.npy", expected.back());  // always written
  EXPECT_FALSE(fs::exists(dir_ / "resnet" / "layer1.0.npy"));
  std::ifstream in(dir_ / "resnet" / "manifest.json");
  const Json manifest = Json::parse(in);
  ASSERT_EQ(manifest["layers"].size(), 3u);
  EXPECT_EQ(manifest["layers"][0]["shape"], Json::parse("[16, 32, 32]"));
  EXPECT_EQ(manifest["layers"][1]["shape"], Json::parse("[32, 16, 16]"));
  EXPECT_EQ(manifest["layers"][2]["shape"], Json::parse("[64]"));
}

TEST_F(FeatureExport, LayersAreChosenByNameFileNameOrFirstWord) {
  ModelSection section;
  auto model = models::make_model(section, 0);
  FeatureExportRequest r = request("chosen", 20);
  r.layers = {"conv9 (5)", "conv3", "conv1_1a"};
  export_features(*model, cpu(), data(), data().test, {1, 2}, r);
  std::ifstream in(dir_ / "chosen" / "manifest.json");
  const Json manifest = Json::parse(in);
  ASSERT_EQ(manifest["layers"].size(), 3u);  // in the model's order
  EXPECT_EQ(manifest["layers"][0]["name"], "conv1 (1a)");
  EXPECT_EQ(manifest["layers"][1]["name"], "conv3 (1b)");
  EXPECT_EQ(manifest["layers"][2]["name"], "conv9 (5)");

  r.layers = {"conv10"};
  const std::string what = error_of([&] { export_features(*model, cpu(), data(), data().test, {1}, r); });
  EXPECT_NE(what.find("no layer 'conv10' (the layers: conv1_1a, conv2_1a"), std::string::npos) << what;
}

// A second export into a folder replaces the first as a whole: no layer of the first is left
// beside the second's (which `files` would then mix), and the manifest lists what is there.
TEST_F(FeatureExport, ASecondExportReplacesTheFirstWhole) {
  ModelSection section;
  auto model = models::make_model(section, 0);
  FeatureExportRequest r = request("out", 20);
  r.layers = {"conv3", "conv9"};
  export_features(*model, cpu(), data(), data().test, {1, 2, 3}, r);
  ASSERT_TRUE(fs::exists(dir_ / "out" / "conv9_5.npy"));
  auto other = models::make_model(section, 1);  // another network
  r.layers = {"conv3"};
  export_features(*other, cpu(), data(), data().test, {4, 5}, r);
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir_ / "out")) names.insert(entry.path().filename().string());
  EXPECT_EQ(names, (std::set<std::string>{".convlab-lock", "conv3_1b.npy", "logits.npy", "images.npy", "labels.npy",
                                          "indices.npy", "manifest.json"}));
  EXPECT_EQ(read_npy(dir_ / "out" / "labels.npy").shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(read_npy_header(dir_ / "out" / "conv3_1b.npy").shape[0], 2);
  // Nothing of either export's staging is left beside the folder.
  for (const auto& entry : fs::directory_iterator(dir_))
    EXPECT_EQ(entry.path().filename().string().find(".staging"), std::string::npos) << entry.path();
}

// An export that does not reach its commit (an error, a kill) leaves the folder's old export
// as it was: never new features beside old labels.
TEST_F(FeatureExport, AnUnfinishedExportLeavesTheOldOneWhole) {
  ModelSection section;
  auto model = models::make_model(section, 0);
  FeatureExportRequest r = request("out", 20);
  r.layers = {"conv3"};
  export_features(*model, cpu(), data(), data().test, {1, 2, 3}, r);
  std::ifstream before_file(dir_ / "out" / "manifest.json");
  const Json before = Json::parse(before_file);
  {
    ReplacedFolder folder(dir_ / "out", FolderKind::feature_export, "convlab-analyze");
    r.layers = {"conv9"};
    const auto written = export_features(*model, cpu(), data(), data().test, {1, 2, 3, 4, 5}, r, folder);
    EXPECT_EQ(written.front().file, dir_ / "out" / "conv9_5.npy");  // named as it will be once committed
    EXPECT_TRUE(fs::exists(folder.staging() / "conv9_5.npy"));
    EXPECT_FALSE(fs::exists(dir_ / "out" / "conv9_5.npy"));
    // A second writer meanwhile is refused, naming this one.
    const std::string what = error_of([&] { export_features(*model, cpu(), data(), data().test, {1}, r); });
    EXPECT_NE(what.find("is in use by pid " + std::to_string(::getpid())), std::string::npos) << what;
    EXPECT_NE(what.find("choose another --output"), std::string::npos) << what;
  }  // not committed
  std::ifstream after_file(dir_ / "out" / "manifest.json");
  EXPECT_EQ(Json::parse(after_file)["export_id"], before["export_id"]);
  EXPECT_EQ(read_npy(dir_ / "out" / "labels.npy").shape, (std::vector<int64_t>{3}));
  EXPECT_TRUE(fs::exists(dir_ / "out" / "conv3_1b.npy"));
  EXPECT_FALSE(fs::exists(dir_ / "out" / "conv9_5.npy"));
}

// An output that is a file, or holds a training run, is refused naming --output; the run is
// left as it was.
TEST_F(FeatureExport, AnOutputThatIsAFileOrARunIsRefused) {
  ModelSection section;
  auto model = models::make_model(section, 0);
  FeatureExportRequest r = request("file", 20);
  r.layers = {"conv3"};
  std::ofstream(dir_ / "file") << "x";
  std::string what = error_of([&] { export_features(*model, cpu(), data(), data().test, {1}, r); });
  EXPECT_NE(what.find("is a file, not a folder: choose another --output"), std::string::npos) << what;
  fs::create_directories(dir_ / "run");
  std::ofstream(dir_ / "run" / "metrics.csv") << "epoch\n";
  r.output = dir_ / "run";
  what = error_of([&] { export_features(*model, cpu(), data(), data().test, {1}, r); });
  EXPECT_NE(what.find("holds a training run"), std::string::npos) << what;
  EXPECT_NE(what.find("--output"), std::string::npos) << what;
  EXPECT_TRUE(fs::exists(dir_ / "run" / "metrics.csv"));
  EXPECT_FALSE(fs::exists(dir_ / "run" / "logits.npy"));
}

// files, given exported files, checks them against the manifest beside them and says so.
TEST_F(FeatureExport, FilesOfOneExportAreCheckedAgainstItsManifest) {
  ModelSection section;
  auto model = models::make_model(section, 0);
  FeatureExportRequest r = request("a", 20);
  r.layers = {"conv3", "conv9"};
  export_features(*model, cpu(), data(), data().test, {1, 2, 3, 4}, r);
  const fs::path a = dir_ / "a";
  std::ifstream manifest_file(a / "manifest.json");
  const std::string id = Json::parse(manifest_file)["export_id"];
  FeatureFileOrigins origins = check_feature_file_origins({{a / "conv3_1b.npy", a / "conv9_5.npy", a / "logits.npy"}});
  ASSERT_EQ(origins.lines.size(), 1u);
  EXPECT_EQ(origins.lines[0], fmt::format("3 files of one export ({}, export {}; shapes, sizes and CRC-32 checked)",
                                          (a / "manifest.json").string(), id));
  EXPECT_TRUE(origins.warnings.empty());

  // The same examples through another network, and files of no export: fine, and said.
  auto other = models::make_model(section, 1);
  r.output = dir_ / "b";
  export_features(*other, cpu(), data(), data().test, {1, 2, 3, 4}, r);
  write_npy(dir_ / "mine.npy", std::vector<int64_t>{4, 2}, std::vector<float>(8, 1.0f));
  origins = check_feature_file_origins({{a / "conv3_1b.npy"}, {dir_ / "b" / "conv3_1b.npy", dir_ / "mine.npy"}});
  ASSERT_EQ(origins.lines.size(), 2u);
  EXPECT_NE(origins.lines[1].find("1 file of one export (" + (dir_ / "b" / "manifest.json").string()),
            std::string::npos) << origins.lines[1];
  EXPECT_NE(origins.lines[1].find(", 1 .npy file without a manifest (only the row counts checked)"),
            std::string::npos) << origins.lines[1];
  EXPECT_TRUE(origins.warnings.empty());
  // One network's layers from two exports: a warning naming both.
  origins = check_feature_file_origins({{a / "conv3_1b.npy", dir_ / "b" / "conv9_5.npy"}});
  EXPECT_NE(origins.lines[0].find(dir_.string() + "/b/manifest.json"), std::string::npos) << origins.lines[0];
  EXPECT_NE(origins.lines[0].find("2 files of 2 exports of the same examples"), std::string::npos) << origins.lines[0];
  ASSERT_EQ(origins.warnings.size(), 1u);
  EXPECT_NE(origins.warnings[0].find("the files come from 2 feature exports"), std::string::npos)
      << origins.warnings[0];

  // Other examples: an error, for CKA compares the same examples.
  r.output = dir_ / "c";
  export_features(*model, cpu(), data(), data().test, {1, 2, 3, 5}, r);
  std::string what = error_of([&] { check_feature_file_origins({{a / "conv3_1b.npy"}, {dir_ / "c" / "conv3_1b.npy"}}); });
  EXPECT_NE(what.find("hold features of different examples"), std::string::npos) << what;
  EXPECT_NE(what.find("--indices"), std::string::npos) << what;

  // A layer of another network left in the export's folder: not listed, an error.
  fs::copy_file(dir_ / "b" / "conv9_5.npy", a / "conv9_old.npy");
  what = error_of([&] { check_feature_file_origins({{a / "conv3_1b.npy", a / "conv9_old.npy"}}); });
  EXPECT_NE(what.find((a / "manifest.json").string() + " does not list it"), std::string::npos) << what;
  fs::remove(a / "conv9_old.npy");

  // A listed file changed after the export: its checksum, or its shape, tells.
  fs::copy_file(dir_ / "b" / "conv9_5.npy", a / "conv9_5.npy", fs::copy_options::overwrite_existing);
  what = error_of([&] { check_feature_file_origins({{a / "conv9_5.npy"}}); });
  EXPECT_NE(what.find("has CRC-32"), std::string::npos) << what;
  EXPECT_NE(what.find("changed after the export"), std::string::npos) << what;
  // Beyond the limit of what is worth reading twice, shapes and sizes only, and said.
  origins = check_feature_file_origins({{a / "conv9_5.npy"}}, /*verify_checksums_up_to=*/100);
  EXPECT_NE(origins.lines[0].find("CRC-32 not verified"), std::string::npos) << origins.lines[0];
  write_npy(a / "conv9_5.npy", std::vector<int64_t>{3, 2}, std::vector<float>(6, 1.0f));
  what = error_of([&] { check_feature_file_origins({{a / "conv9_5.npy"}}); });
  EXPECT_NE(what.find("holds an array of shape (3, 2), but " + (a / "manifest.json").string() + " lists it with shape (4, "),
            std::string::npos) << what;

  // A manifest.json that is not convlab's says nothing about the files beside it.
  std::ofstream(dir_ / "manifest.json") << "{\"name\": \"my features\"}";
  origins = check_feature_file_origins({{dir_ / "mine.npy"}});
  EXPECT_EQ(origins.lines[0], "1 .npy file without a manifest (only the row counts checked)");
}

TEST(FeatureFileStem, KeepsSafeCharactersOnly) {
  EXPECT_EQ(feature_file_stem("conv1 (1a)"), "conv1_1a");
  EXPECT_EQ(feature_file_stem("layer1.0"), "layer1.0");
  EXPECT_EQ(feature_file_stem("logits"), "logits");
  EXPECT_EQ(feature_file_stem("a/b\\c d"), "a_b_c_d");
  EXPECT_EQ(feature_file_stem("(x)"), "x");
  EXPECT_EQ(feature_file_stem("  "), "layer");
}

// An older convlab's manifest has no file list, checksums or export id: its layers' shapes
// (examples, features) are still checked.
TEST_F(FeatureExport, FilesOfAnOlderExportAreCheckedByShape) {
  const fs::path old = dir_ / "old";
  fs::create_directories(old);
  std::ofstream(old / "manifest.json") << R"json({"format": "convlab-features-1", "checkpoint": {"path": "r/c.safetensors"},
    "data": {"fingerprint": "ab", "split": "test", "examples": 4, "selection": "--examples 4"},
    "layers": [{"name": "conv3 (1b)", "file": "conv3_1b.npy", "features": 2}],
    "logits": {"name": "logits", "file": "logits.npy", "features": 10}})json";
  write_npy(old / "conv3_1b.npy", std::vector<int64_t>{4, 2}, std::vector<float>(8, 1.0f));
  const FeatureFileOrigins origins = check_feature_file_origins({{old / "conv3_1b.npy"}});
  EXPECT_EQ(origins.lines[0], "1 file of one export (" + (old / "manifest.json").string() +
                                  ", an older convlab's, without an export id; shapes checked)");
  write_npy(old / "conv3_1b.npy", std::vector<int64_t>{4, 3}, std::vector<float>(12, 1.0f));
  const std::string what = error_of([&] { check_feature_file_origins({{old / "conv3_1b.npy"}}); });
  EXPECT_NE(what.find("lists it with shape (4, 2)"), std::string::npos) << what;
}

TEST(CountExamples, MoreThanThereAreGivesAllWithAWarningNamingBoth) {
  EXPECT_EQ(count_examples(0, 10000, "test images").count, 10000);
  EXPECT_EQ(count_examples(500, 10000, "test images").count, 500);
  EXPECT_TRUE(count_examples(10000, 10000, "test images").warning.empty());
  const ExampleCount more = count_examples(20000, 10000, "test images");
  EXPECT_EQ(more.count, 10000);
  EXPECT_EQ(more.warning, "--examples 20000 asks for more test images than there are (10000): using all 10000");
}

TEST(SelectExamples, AllInOrderOrTheEvaluationSubsetSorted) {
  const std::vector<int32_t> all = select_examples(50, 0);
  ASSERT_EQ(all.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(all[i], i);
  EXPECT_EQ(select_examples(50, 80), all);
  std::vector<int32_t> subset = choose_examples(50, 12, 0);  // what training evaluates on
  std::sort(subset.begin(), subset.end());
  EXPECT_EQ(select_examples(50, 12), subset);
  // Nested: a larger N keeps the smaller N's images.
  const std::vector<int32_t> more = select_examples(50, 20);
  EXPECT_TRUE(std::includes(more.begin(), more.end(), subset.begin(), subset.end()));
}

TEST_F(FeatureExport, IndexFilesInNumpyAndTextForm) {
  // np.save("i.npy", np.array([3, 0, 7])) writes int64.
  std::string npy = npy_header(DType::i32, {3});
  npy.replace(npy.find("<i4"), 3, "<i8");
  for (int64_t v : {3, 0, 7}) npy.append(reinterpret_cast<const char*>(&v), 8);
  std::ofstream(dir_ / "i.npy", std::ios::binary) << npy;
  EXPECT_EQ(read_example_indices(dir_ / "i.npy", 10), (std::vector<int32_t>{3, 0, 7}));
  write_npy(dir_ / "u8.npy", std::vector<int64_t>{2}, std::vector<uint8_t>{9, 4});
  EXPECT_EQ(read_example_indices(dir_ / "u8.npy", 10), (std::vector<int32_t>{9, 4}));

  std::ofstream(dir_ / "i.txt") << "5\n1, 2\n  9\n";
  EXPECT_EQ(read_example_indices(dir_ / "i.txt", 10), (std::vector<int32_t>{5, 1, 2, 9}));
  std::string what = error_of([&] { read_example_indices(dir_ / "i.txt", 9); });
  EXPECT_NE(what.find("index 9 (entry 4) is outside the split of 9 examples"), std::string::npos) << what;
  std::ofstream(dir_ / "bad.txt") << "1 two 3";
  what = error_of([&] { read_example_indices(dir_ / "bad.txt", 9); });
  EXPECT_NE(what.find("entry 2 ('two') is not a whole number"), std::string::npos) << what;
  // Digits too many for any integer: out of range, like any index outside the split.
  std::ofstream(dir_ / "huge.txt") << "1 2\n12345678901234567890123";
  what = error_of([&] { read_example_indices(dir_ / "huge.txt", 9); });
  EXPECT_NE(what.find((dir_ / "huge.txt").string() + ": entry 3 ('12345678901234567890123') is out of range: indices "
                      "run from 0 to 8"), std::string::npos) << what;
  write_npy(dir_ / "f.npy", std::vector<int64_t>{2}, std::vector<float>{1, 2});
  what = error_of([&] { read_example_indices(dir_ / "f.npy", 9); });
  EXPECT_NE(what.find("expected integers"), std::string::npos) << what;
  what = error_of([&] { read_example_indices(dir_ / "none.npy", 9); });
  EXPECT_NE(what.find("does not exist"), std::string::npos) << what;
}

TEST_F(FeatureExport, StreamWriterAppearsOnlyWhenComplete) {
  const std::vector<float> values = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  {
    NpyStreamWriter writer(dir_ / "a.npy", DType::f32, {4, 3});
    writer.append(values.data(), 1);
    writer.append(values.data() + 3, 3);
    EXPECT_FALSE(fs::exists(dir_ / "a.npy"));
    writer.commit();
  }
  write_npy(dir_ / "b.npy", std::vector<int64_t>{4, 3}, values);
  std::ifstream a(dir_ / "a.npy", std::ios::binary), b(dir_ / "b.npy", std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(a), {}), std::string(std::istreambuf_iterator<char>(b), {}));

  {
    NpyStreamWriter unfinished(dir_ / "c.npy", DType::f32, {4, 3});
    unfinished.append(values.data(), 2);
    const std::string what = error_of([&] { unfinished.finish(); });
    EXPECT_NE(what.find("2 rows written, the header promises 4"), std::string::npos) << what;
    EXPECT_NE(error_of([&] { unfinished.append(values.data(), 3); }).find("exceed the 4"), std::string::npos);
  }
  EXPECT_FALSE(fs::exists(dir_ / "c.npy"));
  for (const auto& entry : fs::directory_iterator(dir_))
    EXPECT_EQ(entry.path().filename().string().find(".partial"), std::string::npos) << entry.path();
}
