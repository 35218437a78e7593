// The analysis layer: feature sources, streamed layer-by-layer CKA, checkpoint listing,
// invariance checks and the written outputs.
#include <gtest/gtest.h>

#include <filesystem>
#include <cmath>
#include <fstream>

#include "framework/analysis/compare.h"
#include "framework/analysis/evolution.h"
#include "framework/analysis/feature_source.h"
#include "framework/analysis/invariance.h"
#include "framework/analysis/report.h"
#include "framework/cka/cka.h"
#include "framework/io/npy.h"
#include "kernels/philox.h"
#include "models/all_cnn_c.h"

namespace fs = std::filesystem;
using namespace convlab;

namespace {

// (n, p) features with some shared structure between layers.
std::vector<float> layer_features(int64_t n, int64_t p, uint32_t layer, uint32_t shared_weight) {
  std::vector<float> x(static_cast<size_t>(n * p));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < p; ++j)
      x[i * p + j] = kernels::random_uniform({1, 0, 0}, i * 97 + j % 7) * shared_weight +
                     kernels::random_uniform({2, layer, 0}, i * p + j);
  return x;
}

class AnalysisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           fmt::format("convlab-analysis-{}-{}", ::getpid(), ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path write_layer(const std::string& name, int64_t n, int64_t p, uint32_t layer, uint32_t shared) {
    const fs::path file = dir_ / (name + ".npy");
    write_npy(file, std::vector<int64_t>{n, p}, layer_features(n, p, layer, shared));
    return file;
  }
  fs::path dir_;
};

}  // namespace

TEST_F(AnalysisTest, StreamedMatrixEqualsDirectCkaInOneBatch) {
  const int64_t n = 60;
  const std::vector<fs::path> a{write_layer("a0", n, 5, 0, 1), write_layer("a1", n, 9, 1, 3), write_layer("a2", n, 4, 2, 0)};
  const std::vector<fs::path> b{write_layer("b0", n, 6, 3, 2), write_layer("b1", n, 3, 4, 1)};
  NpyFeatureSource sa(a), sb(b);
  EXPECT_EQ(sa.layer_names(), (std::vector<std::string>{"a0", "a1", "a2"}));
  for (cka::Estimator estimator : {cka::Estimator::biased, cka::Estimator::debiased}) {
    const std::vector<cka::Options> settings{{cka::Kernel::linear(), estimator}, {cka::Kernel::rbf(0.8), estimator}};
    const std::vector<CkaMatrix> ms = compare_layers(sa, &sb, settings, /*batch_size=*/n);
    ASSERT_EQ(ms.size(), 2u);
    for (const CkaMatrix& m : ms) {
      ASSERT_EQ(m.rows, 3);
      ASSERT_EQ(m.cols, 2);
      EXPECT_EQ(m.examples, n);
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t j = 0; j < 2; ++j) {  // every cell is its own pair: no mirroring
          const NpyArray x = read_npy(a[i]), y = read_npy(b[j]);
          const double direct = cka::cka(cka::FeatureView(x.data<float>(), n, x.shape[1]),
                                         cka::FeatureView(y.data<float>(), n, y.shape[1]), m.options);
          EXPECT_NEAR(m.at(i, j), direct, 1e-6) << i << "," << j;  // f32 Gram products
        }
    }
  }
}

TEST_F(AnalysisTest, SelfMatrixHasUnitDiagonalAndMinibatchesCountEveryExample) {
  const std::vector<fs::path> a{write_layer("x", 100, 8, 0, 1), write_layer("y", 100, 5, 1, 2)};
  NpyFeatureSource s(a);
  const CkaMatrix m = compare_layers(s, nullptr, {{cka::Kernel::linear(), cka::Estimator::debiased}}, 32).front();
  EXPECT_EQ(m.examples, 100);  // 32 + 32 + 32 + 4
  EXPECT_NEAR(m.at(0, 0), 1.0, 1e-12);
  EXPECT_NEAR(m.at(1, 1), 1.0, 1e-12);
  EXPECT_NEAR(m.at(0, 1), m.at(1, 0), 1e-12);
  const CkaMatrix first_half = compare_layers(s, nullptr, {{cka::Kernel::linear(), cka::Estimator::debiased}}, 50, 50).front();
  EXPECT_EQ(first_half.examples, 50);
}

TEST_F(AnalysisTest, MismatchedExampleCountsAreAnError) {
  write_layer("short", 10, 3, 0, 1);
  NpyFeatureSource a({write_layer("long", 12, 3, 0, 1)}), b({dir_ / "short.npy"});
  EXPECT_THROW(compare_layers(a, &b, {{}}, 10), Error);
  EXPECT_THROW(NpyFeatureSource({dir_ / "long.npy", dir_ / "short.npy"}), Error);
  EXPECT_THROW(NpyFeatureSource({dir_ / "missing.npy"}), Error);
}

TEST_F(AnalysisTest, EmptyOrNonFiniteFeaturesAreRefused) {
  // Shape (200, 0): once a memcpy from null. Now an error naming the file.
  const fs::path audit = fs::path(CONVLAB_SOURCE_DIR) / "tests/fuzz/corpus/npy/npy_n_by_0_ubsan_memcpy_null.npy";
  try {
    NpyFeatureSource source({audit});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(audit.string() + ": shape (200, 0) holds no features for its 200 examples"),
              std::string::npos)
        << e.what();
  }
  // A NaN would make every CKA value of the layer NaN, reported as constant features.
  std::vector<double> values(4 * 3, 1.0);
  values[7] = std::nan("");
  write_npy(dir_ / "nan.npy", std::vector<int64_t>{4, 3}, values);
  try {
    NpyFeatureSource source({dir_ / "nan.npy"});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nan.npy: feature 1 of example 2 is not finite"), std::string::npos)
        << e.what();
  }
}

TEST_F(AnalysisTest, InvarianceChecksOnFeatures) {
  const std::vector<float> x = layer_features(40, 12, 0, 1);
  Tensor t = Tensor::from_vector<float>({40, 12}, x);
  std::vector<Tensor> layers;
  layers.push_back(std::move(t));
  for (const cka::Options& o : {cka::Options{cka::Kernel::linear(), cka::Estimator::biased},
                                cka::Options{cka::Kernel::rbf(1.0), cka::Estimator::debiased}}) {
    const auto rows = invariance_checks(layers, {"layer"}, o, 3);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_NEAR(rows[0].permutation, 1.0, 1e-9);
    EXPECT_NEAR(rows[0].scaling, 1.0, 1e-9);
    EXPECT_NEAR(rows[0].orthogonal, 1.0, 1e-9);
    EXPECT_LT(rows[0].invertible, 0.999);  // a non-isotropic stretch changes CKA
  }
}

TEST_F(AnalysisTest, ModelFeaturesHaveTheReferenceLayers) {
  models::AllCnnCOptions o;
  o.width1 = 8;
  o.width2 = 8;
  models::AllCnnC model(o);
  ImageSet set;
  set.images.resize(6 * 3072);
  set.labels.assign(6, 1);
  for (size_t i = 0; i < set.images.size(); ++i) set.images[i] = static_cast<uint8_t>(i * 7);
  const DeviceImageSet images = upload(set, cpu());
  ModelFeatureSource source(model, images, "tiny");
  EXPECT_EQ(source.layer_names().size(), 10u);
  const std::vector<Tensor> f = source.batch(2, 3);
  ASSERT_EQ(f.size(), 10u);
  EXPECT_EQ(f[0].shape(), Shape({3, 8 * 32 * 32}));
  EXPECT_EQ(f[9].shape(), Shape({3, 10}));
  const CkaMatrix m = compare_layers(source, nullptr, {{cka::Kernel::linear(), cka::Estimator::biased}}, 6).front();
  int finite = 0;  // a layer whose units are all dead is constant: NaN, with a warning
  for (int64_t i = 0; i < m.rows; ++i)
    if (std::isfinite(m.at(i, i))) {
      EXPECT_NEAR(m.at(i, i), 1.0, 1e-6) << i;
      ++finite;
    }
  EXPECT_GT(finite, 0);
}

TEST_F(AnalysisTest, CheckpointListingAndGridEpochs) {
  fs::create_directories(dir_ / "run" / "checkpoints");
  for (int e : {0, 10, 5, 350}) std::ofstream(dir_ / "run" / "checkpoints" / fmt::format("epoch_{:04d}.safetensors", e));
  std::ofstream(dir_ / "run" / "checkpoints" / "notes.txt");
  const auto list = list_checkpoints(dir_ / "run");
  ASSERT_EQ(list.size(), 4u);
  EXPECT_EQ(list.front().epoch, 0);
  EXPECT_EQ(list.back().epoch, 350);
  EXPECT_THROW(list_checkpoints(dir_ / "nothing"), Error);

  std::vector<int64_t> all;
  for (int e = 0; e <= 350; e += 5) all.push_back(e);
  EXPECT_EQ(grid_epochs(all), (std::vector<int64_t>{0, 5, 25, 100, 150, 350}));
  EXPECT_EQ(grid_epochs({0, 1, 2}), (std::vector<int64_t>{0, 1, 2}));
  const auto spread = grid_epochs({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  EXPECT_EQ(spread.front(), 0);
  EXPECT_EQ(spread.back(), 10);
  EXPECT_EQ(spread.size(), 6u);
}

TEST_F(AnalysisTest, WritesNpyCsvAndHeatmap) {
  CkaMatrix m;
  m.rows = 2;
  m.cols = 3;
  m.values = {1.0, 0.5, 0.25, 0.1, 0.2, 0.3};
  m.row_names = {"conv1 (1a)", "logits"};
  m.col_names = {"a", "b,c", "d"};
  m.row_source = "net A";
  m.col_source = "net B";
  m.examples = 10;
  const auto files = write_cka_matrix(m, dir_ / "out" / "pair_linear", "test");
  ASSERT_EQ(files.size(), 3u);
  const NpyArray back = read_npy(files[0]);
  EXPECT_EQ(back.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(back.values<double>(), m.values);
  std::ifstream csv(files[1]);
  std::string header;
  std::getline(csv, header);
  EXPECT_EQ(header, "layer,a,\"b,c\",d");
  EXPECT_GT(fs::file_size(files[2]), 1000u);
  write_summary(dir_ / "out" / "summary.json", "convlab-analyze pair", {"a", "b"}, {{"pair_linear", &m, files}}, 1.5);
  EXPECT_TRUE(fs::exists(dir_ / "out" / "summary.json"));
}
