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
#include "framework/cka/gram.h"
#include "framework/cka/hsic.h"
#include "framework/io/npy.h"
#include "kernels/philox.h"
#include "models/all_cnn_c.h"
#include "tests/support/source_paths.h"
#include "tests/support/synthetic_data.h"

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
  const fs::path audit = fs::path(test_support::source_dir()) / "tests/fuzz/corpus/npy/npy_n_by_0_ubsan_memcpy_null.npy";
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
    NpyFeatureSource source({dir_ / "nan.npy"});  // streamed: found when its rows are read
    source.batch(0, 4);
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
  // Six different pictures (random bytes): every layer's features vary across them, so each
  // layer's CKA with itself is defined, on any CPU and BLAS.
  const DeviceImageSet images = upload(test_support::random_image_set(6, 140), cpu());
  ModelFeatureSource source(model, images, "tiny");
  EXPECT_EQ(source.layer_names().size(), 10u);
  const std::vector<Tensor> f = source.batch(2, 3);
  ASSERT_EQ(f.size(), 10u);
  EXPECT_EQ(f[0].shape(), Shape({3, 8 * 32 * 32}));
  EXPECT_EQ(f[9].shape(), Shape({3, 10}));
  for (const Tensor& layer : source.batch(0, 6)) {
    const int64_t width = layer.shape()[1];
    const float* x = layer.host<float>();
    bool varies = false;  // some feature differs between two examples
    for (int64_t i = 1; i < 6 && !varies; ++i)
      for (int64_t j = 0; j < width && !varies; ++j) varies = x[i * width + j] != x[j];
    EXPECT_TRUE(varies) << "a layer is the same for all six pictures";
  }
  const CkaMatrix m = compare_layers(source, nullptr, {{cka::Kernel::linear(), cka::Estimator::biased}}, 6).front();
  ASSERT_EQ(m.rows, 10);
  ASSERT_EQ(m.cols, 10);
  for (int64_t i = 0; i < m.rows; ++i)
    for (int64_t j = 0; j < m.cols; ++j) {
      ASSERT_TRUE(std::isfinite(m.at(i, j))) << i << ", " << j;
      EXPECT_NEAR(m.at(i, j), m.at(j, i), 1e-9) << i << ", " << j;
      EXPECT_GE(m.at(i, j), 0.0) << i << ", " << j;  // the biased estimator lies in [0, 1]
      EXPECT_LE(m.at(i, j), 1.0 + 1e-9) << i << ", " << j;
    }
  for (int64_t i = 0; i < m.rows; ++i) EXPECT_NEAR(m.at(i, i), 1.0, 1e-6) << i;
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

namespace {

// A source that counts the batches it is asked for.
class CountingSource final : public FeatureSource {
 public:
  explicit CountingSource(FeatureSource& inner) : inner_(inner) {}
  std::string description() const override { return inner_.description(); }
  std::vector<std::string> layer_names() const override { return inner_.layer_names(); }
  int64_t examples() const override { return inner_.examples(); }
  std::vector<Tensor> batch(int64_t first, int64_t count) override {
    ++batches;
    return inner_.batch(first, count);
  }
  int batches = 0;

 private:
  FeatureSource& inner_;
};

double batch_hsic(const NpyArray& x, const NpyArray& y, int64_t first, int64_t count) {
  const cka::FeatureView fx(x.data<float>() + first * x.shape[1], count, x.shape[1]);
  const cka::FeatureView fy(y.data<float>() + first * y.shape[1], count, y.shape[1]);
  return cka::hsic_biased(cka::gram(fx, cka::Kernel::linear()).data(), cka::gram(fy, cka::Kernel::linear()).data(),
                          count);
}

}  // namespace

// 103 examples in batches of 25: the last batch of 3 counts for 3 examples (weight) or not at
// all (drop), and each way matches the reference computed here from per-batch HSIC.
TEST_F(AnalysisTest, ShortLastBatchIsWeightedOrDropped) {
  const int64_t n = 103, k = 25;
  const fs::path fx = write_layer("x", n, 6, 0, 2), fy = write_layer("y", n, 9, 1, 1);
  const NpyArray x = read_npy(fx), y = read_npy(fy);
  NpyFeatureSource a({fx}), b({fy});
  const auto reference = [&](bool with_last, bool weighted) {
    double xy = 0, xx = 0, yy = 0;
    for (int64_t first = 0; first < n; first += k) {
      const int64_t count = std::min(k, n - first);
      if (count < k && !with_last) break;
      const double w = weighted ? static_cast<double>(count) : 1.0;
      xy += w * batch_hsic(x, y, first, count);
      xx += w * batch_hsic(x, x, first, count);
      yy += w * batch_hsic(y, y, first, count);
    }
    return xy / std::sqrt(xx * yy);
  };
  CompareSettings s;
  s.estimator = cka::Estimator::biased;
  s.batch_size = k;
  s.measures = {Measure::cka, Measure::rsa, Measure::procrustes};
  s.last_batch = LastBatch::weight;
  const std::vector<CkaMatrix> weighted = compare_layers(a, &b, s);
  s.last_batch = LastBatch::drop;
  const std::vector<CkaMatrix> dropped = compare_layers(a, &b, s);
  ASSERT_EQ(weighted.size(), 3u);
  EXPECT_EQ(weighted[0].examples, 103);
  EXPECT_EQ(weighted[0].batches, 5);
  EXPECT_EQ(dropped[0].examples, 100);
  EXPECT_EQ(dropped[0].batches, 4);
  EXPECT_NEAR(weighted[0].at(0, 0), reference(true, true), 1e-6);
  EXPECT_NEAR(dropped[0].at(0, 0), reference(false, true), 1e-6);
  // The old estimator, every batch counted once, differs: the 3 examples moved it.
  EXPECT_GT(std::abs(reference(true, false) - reference(true, true)), 1e-3);
  // RSA and Procrustes: the weighted mean of their per-batch values.
  for (size_t m = 1; m < 3; ++m) {
    EXPECT_EQ(weighted[m].measure, m == 1 ? Measure::rsa : Measure::procrustes);
    EXPECT_NE(weighted[m].at(0, 0), dropped[m].at(0, 0));
  }
  EXPECT_EQ(weighted[2].forms, (std::vector<std::string>{"features", "features"}));
}

TEST_F(AnalysisTest, EveryMeasureInOnePassWithABootstrap) {
  const int64_t n = 120;
  NpyFeatureSource s({write_layer("a", n, 8, 0, 1), write_layer("b", n, 30, 1, 3), write_layer("c", n, 5, 2, 0)});
  CompareSettings settings;
  settings.measures = {Measure::cka, Measure::rsa, Measure::procrustes};
  settings.kernels = {cka::Kernel::linear(), cka::Kernel::rbf(1.0)};
  settings.batch_size = 20;
  settings.bootstrap = 100;
  settings.seed = 5;
  const std::vector<CkaMatrix> ms = compare_layers(s, nullptr, settings);
  ASSERT_EQ(ms.size(), 4u);  // linear CKA, RBF CKA, RSA, Procrustes
  for (const CkaMatrix& m : ms) {
    ASSERT_TRUE(m.bootstrap.has_value());
    EXPECT_EQ(m.bootstrap->replicates, 100);
    for (int64_t i = 0; i < 3; ++i) {
      const double self = m.measure == Measure::procrustes ? 0.0 : 1.0;
      EXPECT_NEAR(m.at(i, i), self, 1e-9);
      EXPECT_NEAR(m.bootstrap->std[i * 3 + i], 0.0, 1e-9);  // the same value in every replicate
      for (int64_t j = 0; j < 3; ++j) {
        const size_t c = static_cast<size_t>(i * 3 + j);
        EXPECT_LE(m.bootstrap->q025[c], m.bootstrap->q975[c]);
        if (i != j) EXPECT_GT(m.bootstrap->std[c], 0.0);
      }
    }
  }
  const auto files = write_cka_matrix(ms[2], dir_ / "out" / "self_rsa", "RSA");
  ASSERT_EQ(files.size(), 4u);
  EXPECT_EQ(files[3].filename(), "self_rsa_std.npy");
  EXPECT_EQ(read_npy(files[3]).values<double>(), ms[2].bootstrap->std);
  write_summary(dir_ / "out" / "summary.json", "convlab-analyze files", {"a.npy"}, {{"self_rsa", &ms[2], files}}, 1.0);
  std::ifstream summary(dir_ / "out" / "summary.json");
  const std::string text((std::istreambuf_iterator<char>(summary)), std::istreambuf_iterator<char>());
  for (const char* key : {"\"bootstrap\"", "\"q025\"", "\"q975\"", "\"std\"", "\"measure\": \"rsa\"", "\"resampling\""})
    EXPECT_NE(text.find(key), std::string::npos) << key;
}

TEST_F(AnalysisTest, AgainstAReferenceExtractsItsFeaturesOncePerBatch) {
  const int64_t n = 50;
  NpyFeatureSource r({write_layer("r0", n, 4, 0, 1), write_layer("r1", n, 6, 1, 1)});
  NpyFeatureSource c0({write_layer("c0", n, 5, 2, 1)}), c1({write_layer("c1", n, 3, 3, 2)});
  CountingSource reference(r);
  CompareSettings s;
  s.measures = {Measure::cka, Measure::rsa};
  s.batch_size = 10;
  const auto results = compare_against({&c0, &c1, &reference}, reference, s);
  EXPECT_EQ(reference.batches, 5);  // once per batch, for three comparisons
  ASSERT_EQ(results.size(), 3u);
  for (size_t i = 0; i < 2; ++i) {  // the same as one comparison at a time
    NpyFeatureSource& source = i == 0 ? c0 : c1;
    const std::vector<CkaMatrix> alone = compare_layers(source, &r, s);
    for (size_t m = 0; m < 2; ++m) EXPECT_EQ(results[i][m].values, alone[m].values);
  }
  EXPECT_NEAR(results[2][0].at(1, 1), 1.0, 1e-12);
}

TEST_F(AnalysisTest, NpyFeaturesAreReadBatchByBatch) {
  const fs::path file = write_layer("layer", 12, 5, 0, 1);
  NpyFeatureSource source({file});
  NpyRowReader reader(file);
  EXPECT_EQ(reader.rows(), 12);
  EXPECT_EQ(reader.row_bytes(), 20u);
  // Change row 7 on disk after the source was opened: only reads that cover it see it.
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(reader.header().data_offset + 7 * 20));
    const float changed[5] = {9, 9, 9, 9, 9};
    f.write(reinterpret_cast<const char*>(changed), sizeof(changed));
  }
  const std::vector<float> original = layer_features(12, 5, 0, 1);
  const std::vector<Tensor> first = source.batch(0, 7), second = source.batch(7, 5);
  EXPECT_EQ(first[0].host<float>()[34], original[34]);
  EXPECT_EQ(second[0].host<float>()[0], 9.0f);
  EXPECT_EQ(second[0].host<float>()[5], original[8 * 5]);
  EXPECT_THROW(reader.read_rows(10, 3, nullptr), Error);
}
