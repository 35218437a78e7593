// The analysis layer: feature sources, streamed layer-by-layer CKA, checkpoint listing,
// invariance checks and the written outputs; the batch sizes each measure needs (and the
// measurement they come from), features of any float64 scale, RBF widths that fit no
// distance, and errors that name where they happened.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <tuple>

#include "framework/analysis/compare.h"
#include "framework/analysis/evolution.h"
#include "framework/analysis/feature_source.h"
#include "framework/analysis/invariance.h"
#include "framework/analysis/report.h"
#include "framework/cka/accumulator.h"
#include "framework/cka/cka.h"
#include "framework/cka/gram.h"
#include "framework/cka/hsic.h"
#include "framework/io/npy.h"
#include "framework/procrustes/procrustes.h"
#include "framework/rsa/rsa.h"
#include "kernels/philox.h"
#include "models/all_cnn_c.h"
#include "tests/support/error_of.h"
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

// Features held in memory, (n, p_l) f32 or f64 CPU tensors, one per layer: what a network or
// a set of .npy files hands over, without either.
class MemorySource final : public FeatureSource {
 public:
  explicit MemorySource(std::string description) : description_(std::move(description)) {}
  template <class T>
  void add(const std::string& name, const std::vector<T>& values, int64_t n, int64_t p) {
    ASSERT_TRUE(layers_.empty() || n == examples());
    names_.push_back(name);
    layers_.push_back(Tensor::from_vector<T>({n, p}, values));
  }
  std::string description() const override { return description_; }
  std::vector<std::string> layer_names() const override { return names_; }
  int64_t examples() const override { return layers_.empty() ? 0 : layers_.front().dim(0); }
  std::vector<Tensor> batch(int64_t first, int64_t count) override {
    std::vector<Tensor> out;
    for (const Tensor& t : layers_) {
      Tensor part = Tensor::empty({count, t.dim(1)}, t.dtype(), cpu());  // (count, p)
      std::memcpy(part.raw(), static_cast<const char*>(t.raw()) + first * t.dim(1) * dtype_size(t.dtype()),
                  part.nbytes());
      out.push_back(std::move(part));
    }
    return out;
  }

 private:
  std::string description_;
  std::vector<std::string> names_;
  std::vector<Tensor> layers_;  // (n, p_l) each
};

// (n, p) standard normal draws from `seed`, in T.
template <class T>
std::vector<T> gaussian(int64_t n, int64_t p, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  std::vector<T> x(static_cast<size_t>(n * p));
  for (T& v : x) v = static_cast<T>(normal(rng));
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

// The checkpoints themselves: tests/test_evolution_checkpoints.cpp.
TEST_F(AnalysisTest, GridEpochs) {
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
        if (i != j) {
          EXPECT_GT(m.bootstrap->std[c], 0.0);
        }
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

namespace {

// A seed drawn afresh for every run, printed with any failure.
uint64_t fresh_seed() {
  static std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) | device();
}

// Two related layers: x (n, p) Gaussian, y (n, q) a smooth function of x and noise. Smooth, not
// ReLU: exact zeros make RDM distances that tie up to rounding, and RSA's ranks of such ties
// follow the rounding of the BLAS at hand.
struct RandomLayers {
  std::vector<double> x, y;  // (n, p), (n, q)
};
RandomLayers random_layers(int64_t n, int64_t p, int64_t q, uint64_t seed) {
  RandomLayers out{gaussian<double>(n, p, seed), gaussian<double>(n, q, seed + 1)};
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < q; ++j) out.y[i * q + j] = std::tanh(out.x[i * p + j % p] + 0.7 * out.y[i * q + j]);
  return out;
}

std::vector<double> scaled(const std::vector<double>& v, double scale) {
  std::vector<double> out(v);
  for (double& e : out) e *= scale;
  return out;
}

// Every measure at once: CKA under both kernels, RSA and Procrustes.
CompareSettings every_measure(cka::Estimator estimator, int64_t batch_size) {
  CompareSettings s;
  s.measures = {Measure::cka, Measure::rsa, Measure::procrustes};
  s.kernels = {cka::Kernel::linear(), cka::Kernel::rbf(1.0)};
  s.estimator = estimator;
  s.batch_size = batch_size;
  return s;
}

std::vector<std::vector<double>> values_of(const std::vector<SimilarityMatrix>& ms) {
  std::vector<std::vector<double>> out;
  for (const SimilarityMatrix& m : ms) out.push_back(m.values);
  return out;
}

}  // namespace

// Below a measure's minimum batch the analysis is refused, naming --batch-size and the minimum
// (or the examples, when there are fewer than a batch); at the minimum it runs.
TEST(BatchLimits, BelowAMeasuresMinimumTheAnalysisIsRefused) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  const int64_t n = 24;
  const RandomLayers l = random_layers(n, 6, 5, seed);
  MemorySource a("features A"), b("features B");
  a.add("x", l.x, n, 6);
  b.add("y", l.y, n, 5);
  struct Case {
    Measure measure;
    cka::Estimator estimator;
    int64_t minimum;
    const char* name;
  };
  for (const Case& c : {Case{Measure::procrustes, cka::Estimator::debiased, 3, "Procrustes"},
                        Case{Measure::cka, cka::Estimator::biased, 3, "biased CKA"},
                        Case{Measure::cka, cka::Estimator::debiased, 4, "debiased CKA"},
                        Case{Measure::rsa, cka::Estimator::debiased, 3, "RSA"}}) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(batch_limits(c.measure, c.estimator).minimum, c.minimum);
    CompareSettings s;
    s.measures = {c.measure};
    s.kernels = {cka::Kernel::linear(), cka::Kernel::rbf(1.0)};
    s.estimator = c.estimator;
    for (int64_t k = 1; k < c.minimum; ++k) {
      s.batch_size = k;
      const std::string error = test_support::error_of([&] { compare_layers(a, &b, s); });
      EXPECT_NE(error.find(fmt::format("{} needs batches of at least {} examples", c.name, c.minimum)),
                std::string::npos)
          << error;
      EXPECT_NE(error.find(fmt::format("raise --batch-size to {} or more", c.minimum)), std::string::npos) << error;
    }
    // Fewer examples than the minimum make one batch that small whatever the batch size.
    s.batch_size = 1000;
    s.examples = c.minimum - 1;
    const std::string error = test_support::error_of([&] { compare_layers(a, &b, s); });
    EXPECT_NE(error.find(fmt::format("only {} examples are used", c.minimum - 1)), std::string::npos) << error;
    EXPECT_NE(error.find("--batch-size"), std::string::npos) << error;
    EXPECT_NE(error.find("--examples"), std::string::npos) << error;
    s.examples = 0;
    s.batch_size = c.minimum;
    testing::internal::CaptureStderr();
    const std::vector<SimilarityMatrix> ms = compare_layers(a, &b, s);
    testing::internal::GetCapturedStderr();
    EXPECT_EQ(ms.front().examples, n);
    EXPECT_EQ(ms.front().batches, n / c.minimum);
  }
  // At 2, what the refusal spares: every pair of layers at Procrustes distance 0.
  procrustes::ProcrustesAccumulator pairs(1, 1);
  for (int64_t first = 0; first < n; first += 2)
    pairs.add_batch({cka::FeatureView(l.x.data() + first * 6, 2, 6)}, {cka::FeatureView(l.y.data() + first * 5, 2, 5)});
  EXPECT_NEAR(pairs.result()[0], 0.0, 1e-12);
}

// Above Procrustes's largest batch (its k x k eigendecompositions) the analysis is refused
// before any features are read, naming --batch-size and the limit; at the limit it runs.
TEST(BatchLimits, AboveProcrustesLargestBatchTheAnalysisIsRefused) {
  const int64_t n = procrustes::kMaxExamples + 1;
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i)] = static_cast<float>(i % 17);
  MemorySource a("features");
  a.add("x", x, n, 1);
  CompareSettings s;
  s.measures = {Measure::cka, Measure::procrustes};
  s.batch_size = n;
  EXPECT_EQ(batch_limits(Measure::procrustes, cka::Estimator::debiased).maximum, procrustes::kMaxExamples);
  EXPECT_EQ(batch_limits(Measure::cka, cka::Estimator::debiased).maximum, INT64_MAX);
  const std::string error = test_support::error_of([&] { compare_layers(a, nullptr, s); });
  EXPECT_NE(error.find(fmt::format("Procrustes takes batches of at most {} examples", procrustes::kMaxExamples)),
            std::string::npos)
      << error;
  EXPECT_NE(error.find(fmt::format("lower --batch-size to {} or less", procrustes::kMaxExamples)), std::string::npos)
      << error;
  // Fewer examples than the batch size make a batch of all of them: refused alike.
  s.batch_size = 1000000;
  EXPECT_NE(test_support::error_of([&] { compare_layers(a, nullptr, s); }).find("at most"), std::string::npos);
  s.measures = {Measure::procrustes};
  s.batch_size = procrustes::kMaxExamples;
  s.last_batch = LastBatch::drop;
  const std::vector<SimilarityMatrix> ms = compare_layers(a, nullptr, s);
  EXPECT_EQ(ms.front().examples, procrustes::kMaxExamples);
}

// A last batch below the largest minimum is dropped: Procrustes's minimum is 3, so 26 examples
// in batches of 4 use 24 (a batch of 2 would add distances of 0).
TEST(BatchLimits, ALastBatchBelowTheMinimumIsDropped) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  const int64_t n = 26;
  const RandomLayers l = random_layers(n, 4, 3, seed);
  MemorySource a("features");
  a.add("x", l.x, n, 4);
  a.add("y", l.y, n, 3);
  CompareSettings s;
  s.measures = {Measure::procrustes};
  s.batch_size = 4;
  testing::internal::CaptureStderr();
  const SimilarityMatrix m = compare_layers(a, nullptr, s).front();
  testing::internal::GetCapturedStderr();
  EXPECT_EQ(m.examples, 24);
  EXPECT_EQ(m.batches, 6);
  procrustes::ProcrustesAccumulator reference(2, 0);
  for (int64_t first = 0; first + 4 <= n; first += 4)
    reference.add_batch(
        {cka::FeatureView(l.x.data() + first * 4, 4, 4), cka::FeatureView(l.y.data() + first * 3, 4, 3)});
  EXPECT_NEAR(m.at(0, 1), reference.result()[1], 1e-12);
}

// Between a measure's minimum and its advised size, one warning per measure and analysis on
// stderr, whatever the number of batches and comparisons; the effective batch is the smaller
// of the batch size and the examples.
TEST(BatchLimits, SmallBatchesWarnOncePerAnalysis) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  const int64_t n = 60;
  const RandomLayers l = random_layers(n, 5, 4, seed);
  MemorySource a("features A"), b("features B");
  a.add("x", l.x, n, 5);
  b.add("y", l.y, n, 4);
  const auto count = [](const std::string& text, const std::string& what) {
    size_t found = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++found;
    return found;
  };
  CompareSettings s = every_measure(cka::Estimator::biased, 3);
  ASSERT_LT(3, batch_limits(Measure::rsa, s.estimator).advised);
  testing::internal::CaptureStderr();
  compare_against({&a, &a, &b}, b, s);  // three comparisons of 20 batches each
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(count(err, "convlab: warning: "), 3u) << err;
  for (const char* name : {"biased CKA in batches of 3 examples", "RSA in batches of 3 examples",
                           "Procrustes in batches of 3 examples"})
    EXPECT_EQ(count(err, name), 1u) << name << "\n" << err;
  EXPECT_NE(err.find(fmt::format("raise --batch-size and the examples (--examples) to {} or more",
                                 batch_limits(Measure::procrustes, s.estimator).advised)),
            std::string::npos)
      << err;
  // The debiased estimator has no advised size above its minimum; RSA's is met at its value.
  s = every_measure(cka::Estimator::debiased, batch_limits(Measure::rsa, cka::Estimator::debiased).advised);
  s.measures = {Measure::cka, Measure::rsa};
  testing::internal::CaptureStderr();
  compare_layers(a, &b, s);
  err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err.find("convlab: warning"), std::string::npos) << err;
  // A batch size of 1000 over 60 examples is one batch of 60: below Procrustes' advised size,
  // which more examples would reach.
  s = every_measure(cka::Estimator::debiased, 1000);
  s.measures = {Measure::procrustes};
  testing::internal::CaptureStderr();
  compare_layers(a, &b, s);
  err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(count(err, "convlab: warning: Procrustes in batches of 60 examples"), 1u) << err;
  EXPECT_NE(err.find("or more examples (--examples)"), std::string::npos) << err;
}

// The same random features at any scale from subnormal to 1e300 (float64, as .npy files may
// hold them) give the same CKA under both kernels and estimators, RSA and Procrustes distance,
// in both Procrustes forms and over several batches, without a warning.
TEST(ScaleFree, EveryMeasureFromSubnormalTo1e300) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  const int64_t n = 48, k = 16;
  const RandomLayers narrow = random_layers(n, 5, 7, seed);    // features <= k: feature form
  const RandomLayers wide = random_layers(n, 40, 33, seed + 7);  // features > k: Gram form
  const auto run = [&](double scale_a, double scale_b, cka::Estimator estimator) {
    MemorySource a("features A"), b("features B");
    a.add("narrow_x", scaled(narrow.x, scale_a), n, 5);
    a.add("wide_x", scaled(wide.x, scale_a), n, 40);
    b.add("narrow_y", scaled(narrow.y, scale_b), n, 7);
    b.add("wide_y", scaled(wide.y, scale_b), n, 33);
    return values_of(compare_layers(a, &b, every_measure(estimator, k)));
  };
  for (cka::Estimator estimator : {cka::Estimator::debiased, cka::Estimator::biased}) {
    testing::internal::CaptureStderr();
    const std::vector<std::vector<double>> base = run(1.0, 1.0, estimator);
    testing::internal::GetCapturedStderr();
    for (const double scale_a : {1e-310, 1e-100, 1.0, 1e100, 1e300})
      for (const double scale_b : {1e-310, 1e-100, 1.0, 1e100, 1e300}) {
        SCOPED_TRACE(fmt::format("A at {}, B at {}, {}", scale_a, scale_b, cka::estimator_name(estimator)));
        testing::internal::CaptureStderr();
        const std::vector<std::vector<double>> values = run(scale_a, scale_b, estimator);
        const std::string err = testing::internal::GetCapturedStderr();
        EXPECT_EQ(err.find("warning: CKA"), std::string::npos) << err;  // no false "constant features"
        EXPECT_EQ(err.find("warning: RSA"), std::string::npos) << err;
        EXPECT_EQ(err.find("warning: the Procrustes"), std::string::npos) << err;
        ASSERT_EQ(values.size(), 4u);  // linear CKA, RBF CKA, RSA, Procrustes
        for (size_t m = 0; m < values.size(); ++m)
          for (size_t c = 0; c < values[m].size(); ++c) {
            ASSERT_TRUE(std::isfinite(values[m][c])) << m << " " << c;
            EXPECT_NEAR(values[m][c], base[m][c], 1e-12 * std::max(1.0, std::abs(base[m][c]))) << m << " " << c;
          }
      }
  }
}

// f32 features at the ends of f32's range, and in a layer scaled differently batch by batch
// no more than data does, give the values of features of order 1.
TEST(ScaleFree, Float32FeaturesAtTheEndsOfTheirRange) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  const int64_t n = 40;
  const RandomLayers l = random_layers(n, 6, 9, seed);
  const auto run = [&](double scale) {
    std::vector<float> x(l.x.size()), y(l.y.size());
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(l.x[i] * scale);
    for (size_t i = 0; i < y.size(); ++i) y[i] = static_cast<float>(l.y[i] * scale);
    MemorySource a("features");
    a.add("x", x, n, 6);
    a.add("y", y, n, 9);
    return values_of(compare_layers(a, nullptr, every_measure(cka::Estimator::debiased, 20)));
  };
  testing::internal::CaptureStderr();
  const std::vector<std::vector<double>> base = run(1.0);
  for (const double scale : {1e-36, 1e36}) {
    const std::vector<std::vector<double>> values = run(scale);
    for (size_t m = 0; m < values.size(); ++m)
      for (size_t c = 0; c < values[m].size(); ++c) EXPECT_NEAR(values[m][c], base[m][c], 1e-5) << scale << " " << m;
  }
  testing::internal::GetCapturedStderr();
}

// An RBF width so wide that the kernel is 1 for every pair, or so narrow that it is 0, is
// named as the cause, with --rbf-frac, its value, the layer and the source, not read as a
// constant layer.
TEST(RbfWidth, AWidthThatTellsNoExampleApartIsNamed) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  const int64_t n = 40;
  const RandomLayers l = random_layers(n, 8, 6, seed);
  MemorySource a("features A");
  a.add("conv3", l.x, n, 8);
  a.add("fc", l.y, n, 6);
  for (const auto& [frac, shown, cause] : {std::tuple{1e6, "--rbf-frac 1e+06", "is 1"},
                                          std::tuple{1e-3, "--rbf-frac 0.001", "is 0"}})
    for (cka::Estimator estimator : {cka::Estimator::debiased, cka::Estimator::biased}) {
      CompareSettings s;
      s.kernels = {cka::Kernel::linear(), cka::Kernel::rbf(frac)};
      s.estimator = estimator;
      s.batch_size = 20;
      const std::string error = test_support::error_of([&] {
        testing::internal::CaptureStderr();
        try {
          compare_layers(a, nullptr, s);
        } catch (...) {
          testing::internal::GetCapturedStderr();
          throw;
        }
        testing::internal::GetCapturedStderr();
      });
      EXPECT_NE(error.find(shown), std::string::npos) << error;
      EXPECT_NE(error.find(cause), std::string::npos) << error;
      EXPECT_NE(error.find("layer 'conv3'"), std::string::npos) << error;
      EXPECT_NE(error.find("features A"), std::string::npos) << error;
      EXPECT_NE(error.find("examples 0 to 19"), std::string::npos) << error;
      EXPECT_EQ(error.find("constant"), std::string::npos) << error;
    }
  // Widths a few times off the median still fit.
  CompareSettings s;
  s.kernels = {cka::Kernel::rbf(0.2), cka::Kernel::rbf(20.0)};
  s.batch_size = 20;
  for (const SimilarityMatrix& m : compare_layers(a, nullptr, s)) EXPECT_NEAR(m.at(0, 0), 1.0, 1e-9);
}

// An error inside a measure names the source and the batch as well as the layer.
TEST(MeasureErrors, NameTheSourceTheLayerAndTheBatch) {
  const uint64_t seed = fresh_seed();
  SCOPED_TRACE(seed);
  const int64_t n = 30;
  RandomLayers l = random_layers(n, 4, 4, seed);
  l.y[25 * 4 + 2] = std::nan("");
  MemorySource a("features A"), b("activations B");
  a.add("x", l.x, n, 4);
  b.add("pool", l.y, n, 4);
  for (Measure measure : {Measure::cka, Measure::rsa, Measure::procrustes}) {
    CompareSettings s;
    s.measures = {measure};
    s.batch_size = 10;
    const std::string error = test_support::error_of([&] { compare_layers(a, &b, s); });
    EXPECT_NE(error.find("layer 'pool'"), std::string::npos) << error;
    EXPECT_NE(error.find("network A: features A; network B: activations B"), std::string::npos) << error;
    EXPECT_NE(error.find("examples 20 to 29"), std::string::npos) << error;
  }
}

// The measurement behind the batch sizes in batch_limits (compare.h): each estimator's value for
// two independent Gaussian layers (unrelated) and for x against max(0, x + noise) (related), of
// p = 16 .. 4096 features each, on 10,000 examples in batches of k = 2 .. 1000, straight from the
// accumulators (compare_layers refuses the smallest batches). Report only, about 15 minutes on
// two cores: run with --gtest_also_run_disabled_tests (CONVLAB_MEASURE_SIZES=300,400 for some
// sizes only).
TEST(BatchSizeMeasurement, DISABLED_UnrelatedAndRelatedLayersByBatchSize) {
  const int64_t n = 10000;
  const std::vector<int64_t> widths = {16, 64, 256, 1024, 4096};
  std::vector<int64_t> sizes = {2,   3,   4,   5,   6,   8,   10,  12,  16,  20,  25,  32,  50,  64,
                               100, 128, 200, 256, 300, 400, 500, 600, 700, 800, 900, 1000};
  if (const char* list = std::getenv("CONVLAB_MEASURE_SIZES")) {
    sizes.clear();
    for (std::stringstream in(list); in.good();) {
      int64_t k = 0;
      char comma = 0;
      if (in >> k) sizes.push_back(k);
      in >> comma;
    }
  }
  std::printf("value for unrelated layers / related layers; n = %lld examples\n", static_cast<long long>(n));
  std::printf("%5s %5s | %15s | %15s | %15s | %15s | %15s | %15s\n", "p", "k", "linear debiased", "linear biased",
              "rbf debiased", "rbf biased", "rsa", "procrustes");
  for (const int64_t p : widths) {
    const std::vector<float> x = gaussian<float>(n, p, 1000 + p), y = gaussian<float>(n, p, 2000 + p);
    std::vector<float> z = gaussian<float>(n, p, 3000 + p);
    for (size_t i = 0; i < z.size(); ++i) z[i] = std::max(0.0f, x[i] + z[i]);
    for (const int64_t k : sizes) {
      const std::vector<cka::Kernel> kernels = {cka::Kernel::linear(), cka::Kernel::rbf(1.0)};
      cka::CkaAccumulator debiased(3, 0, kernels, cka::Estimator::debiased);
      cka::CkaAccumulator biased(3, 0, kernels, cka::Estimator::biased);
      rsa::RsaAccumulator rsa(3, 0);
      procrustes::ProcrustesAccumulator procrustes(3, 0);
      for (int64_t first = 0; first + k <= n; first += k) {
        const std::vector<cka::FeatureView> v = {cka::FeatureView(x.data() + first * p, k, p),
                                                 cka::FeatureView(y.data() + first * p, k, p),
                                                 cka::FeatureView(z.data() + first * p, k, p)};
        if (k >= 4) debiased.add_batch(v);
        biased.add_batch(v);
        if (k >= 3) rsa.add_batch(v);
        procrustes.add_batch(v);
      }
      // (3, 3) results: entry 1 is x against y (unrelated), entry 2 x against z (related).
      const auto cell = [](const std::vector<double>& m) { return fmt::format("{:7.4f} {:7.4f}", m[1], m[2]); };
      const std::string none = fmt::format("{:>15}", "-");
      std::printf("%5lld %5lld | %s | %s | %s | %s | %s | %s\n", static_cast<long long>(p), static_cast<long long>(k),
                  k >= 4 ? cell(debiased.result(0)).c_str() : none.c_str(), cell(biased.result(0)).c_str(),
                  k >= 4 ? cell(debiased.result(1)).c_str() : none.c_str(), cell(biased.result(1)).c_str(),
                  k >= 3 ? cell(rsa.result()).c_str() : none.c_str(), cell(procrustes.result()).c_str());
      std::fflush(stdout);
    }
  }
}

// The spread behind the same batch sizes for the estimators that are unbiased for unrelated
// layers (debiased CKA, RSA): mean and standard deviation over 8 draws of the layers. About 10
// minutes on two cores.
TEST(BatchSizeMeasurement, DISABLED_SpreadOverDrawsBySmallBatchSize) {
  const int64_t n = 10000, draws = 8;
  const std::vector<int64_t> widths = {16, 256, 4096};
  const std::vector<int64_t> sizes = {3, 4, 5, 6, 8, 10, 12, 16, 20, 25, 32, 50, 64, 100, 1000};
  std::printf("mean (std) over %lld draws, unrelated | related; n = %lld examples\n", static_cast<long long>(draws),
              static_cast<long long>(n));
  for (const int64_t p : widths) {
    // [size][measure][pair] values over the draws; measures: linear debiased, rbf debiased, rsa.
    std::vector<std::vector<std::vector<std::vector<double>>>> values(
        sizes.size(), std::vector<std::vector<std::vector<double>>>(3, std::vector<std::vector<double>>(2)));
    for (int64_t d = 0; d < draws; ++d) {
      const std::vector<float> x = gaussian<float>(n, p, 10000 * d + p), y = gaussian<float>(n, p, 10000 * d + p + 1);
      std::vector<float> z = gaussian<float>(n, p, 10000 * d + p + 2);
      for (size_t i = 0; i < z.size(); ++i) z[i] = std::max(0.0f, x[i] + z[i]);
      for (size_t s = 0; s < sizes.size(); ++s) {
        const int64_t k = sizes[s];
        cka::CkaAccumulator debiased(3, 0, {cka::Kernel::linear(), cka::Kernel::rbf(1.0)}, cka::Estimator::debiased);
        rsa::RsaAccumulator rsa(3, 0);
        for (int64_t first = 0; first + k <= n; first += k) {
          const std::vector<cka::FeatureView> v = {cka::FeatureView(x.data() + first * p, k, p),
                                                   cka::FeatureView(y.data() + first * p, k, p),
                                                   cka::FeatureView(z.data() + first * p, k, p)};
          if (k >= 4) debiased.add_batch(v);
          rsa.add_batch(v);
        }
        const std::vector<std::vector<double>> results = {
            k >= 4 ? debiased.result(0) : std::vector<double>(9, NAN),
            k >= 4 ? debiased.result(1) : std::vector<double>(9, NAN), rsa.result()};
        for (size_t m = 0; m < 3; ++m)
          for (size_t pair = 0; pair < 2; ++pair) values[s][m][pair].push_back(results[m][1 + pair]);
      }
    }
    std::printf("%5s %5s | %31s | %31s | %31s\n", "p", "k", "linear debiased", "rbf debiased", "rsa");
    for (size_t s = 0; s < sizes.size(); ++s) {
      std::string line = fmt::format("{:5} {:5}", p, sizes[s]);
      for (size_t m = 0; m < 3; ++m) {
        line += " |";
        for (size_t pair = 0; pair < 2; ++pair) {
          const std::vector<double>& v = values[s][m][pair];
          double mean = 0, sq = 0;
          for (double e : v) mean += e / static_cast<double>(v.size());
          for (double e : v) sq += (e - mean) * (e - mean) / static_cast<double>(v.size() - 1);
          line += fmt::format(" {:7.4f} ({:6.4f})", mean, std::sqrt(sq));
        }
      }
      std::printf("%s\n", line.c_str());
      std::fflush(stdout);
    }
  }
}
