// The minibatch skeleton that mutual k-NN, CKNNA, SVCCA, PWCCA and linear predictivity share
// (stats::PairAccumulator), through each measure's accumulator: a network against itself,
// batches weighted by size, bad batches refused; and their wiring into compare_layers (names,
// batch limits, NaN features, scale). The Python tests in apps/python/tests/test_more_measures.py
// check the values against numpy ports of the published code; these check what those do not.
//
// Suites: PairAccumulator, MoreMeasures. The measures themselves: test_knn_measures.cpp and
// test_cca_ridge_measures.cpp.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "framework/analysis/compare.h"
#include "framework/analysis/measure_run.h"
#include "framework/cca/cca.h"
#include "framework/cka/features.h"
#include "framework/knn/cknna.h"
#include "framework/knn/mutual_knn.h"
#include "framework/ridge/ridge.h"
#include "framework/stats/pair_accumulator.h"
#include "tests/support/dense_matrix.h"
#include "tests/support/error_of.h"
#include "tests/support/measure_data.h"
#include "tests/support/vector_source.h"

namespace convlab {
namespace {

using cka::FeatureView;
using test_support::contains;
using test_support::decaying;
using test_support::error_of;
using test_support::Matrix;
using test_support::random_normal;
using test_support::reference_cosines;
using test_support::related;
using test_support::rows_of;
using test_support::smallest_boundary_gap;
using test_support::VectorSource;

// ---------------------------------------------------------------------------------------------
// The minibatch skeleton (stats::PairAccumulator), through the measures

// Five layers of n examples for the accumulator tests: two related pairs and an unrelated one.
struct Layers {
  int64_t n = 0;
  std::vector<Matrix> values;
  std::vector<int64_t> widths;
  std::vector<std::string> names;
  std::vector<FeatureView> views(int64_t first, int64_t count, std::vector<Matrix>& parts) const {
    parts.clear();
    for (size_t l = 0; l < values.size(); ++l) parts.push_back(rows_of(values[l], widths[l], first, count));
    std::vector<FeatureView> out;
    for (size_t l = 0; l < values.size(); ++l) out.emplace_back(parts[l], count, widths[l], names[l]);
    return out;
  }
};

Layers some_layers(int64_t n, uint64_t seed) {
  Layers l;
  l.n = n;
  const Matrix a = decaying(n, 7, seed);
  l.values = {a, related(a, n, 7, 5, seed + 1), random_normal(n, 6, seed + 2)};
  l.widths = {7, 5, 6};
  l.names = {"conv1", "conv2", "fc"};
  return l;
}

// Every new measure's accumulator and its full-batch function.
struct MeasureCase {
  const char* name;
  std::function<std::unique_ptr<stats::PairAccumulator>(int64_t, int64_t)> make;
  std::function<double(const FeatureView&, const FeatureView&)> full;  // one batch, one pair
  bool symmetric;
};

std::vector<MeasureCase> measure_cases() {
  const int64_t k = 4;
  return {
      {"mutual k-NN", [=](int64_t a, int64_t b) { return std::make_unique<knn::MutualKnnAccumulator>(a, b, k); },
       [=](const FeatureView& x, const FeatureView& y) { return knn::mutual_knn(x, y, k); }, true},
      {"SVCCA",
       [](int64_t a, int64_t b) {
         return std::make_unique<cca::CcaAccumulator>(cca::CcaMeasure::svcca, a, b, cca::Reduction{});
       },
       [](const FeatureView& x, const FeatureView& y) { return cca::svcca(x, y); }, true},
      {"PWCCA",
       [](int64_t a, int64_t b) {
         return std::make_unique<cca::CcaAccumulator>(cca::CcaMeasure::pwcca, a, b, cca::Reduction{});
       },
       [](const FeatureView& x, const FeatureView& y) { return cca::pwcca(x, y); }, false},
      {"linear predictivity", [](int64_t a, int64_t b) { return std::make_unique<ridge::RidgeAccumulator>(a, b, 0.1); },
       [](const FeatureView& x, const FeatureView& y) { return ridge::predictivity(x, y, 0.1); }, false},
      // CKNNA's value is a ratio of mean terms (KnnCknna, test_knn_measures.cpp); in one batch it is cknna().
      {"CKNNA", [=](int64_t a, int64_t b) { return std::make_unique<knn::CknnaAccumulator>(a, b, k); },
       [=](const FeatureView& x, const FeatureView& y) { return knn::cknna(x, y, k); }, false},
  };
}

TEST(PairAccumulator, ANetworkAgainstItselfEqualsTwoCopiesAndFillsBothTriangles) {
  const Layers l = some_layers(36, 101);
  std::vector<Matrix> parts;
  const std::vector<FeatureView> v = l.views(0, l.n, parts);
  for (const MeasureCase& c : measure_cases()) {
    SCOPED_TRACE(c.name);
    auto self = c.make(3, 0), two = c.make(3, 3);
    self->add_batch(v);
    two->add_batch(v, v);
    const std::vector<double> s = self->result(), t = two->result();
    ASSERT_EQ(s.size(), 9u);
    ASSERT_EQ(t.size(), 9u);
    EXPECT_EQ(self->pairs().rows(), 3);
    EXPECT_EQ(two->pairs().rows(), 6);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) {
        EXPECT_NEAR(s[i * 3 + j], t[i * 3 + j], 1e-12) << i << " " << j;
        // Both triangles hold m(layer i, layer j), each order computed where they differ.
        EXPECT_NEAR(s[i * 3 + j], c.full(v[i], v[j]), 1e-12) << i << " " << j;
      }
    if (!c.symmetric) EXPECT_GT(std::abs(s[0 * 3 + 1] - s[1 * 3 + 0]), 1e-6);
  }
}

TEST(PairAccumulator, BatchesCountInProportionToTheirSize) {
  const Layers l = some_layers(48, 103), m = some_layers(48, 107);
  const int64_t sizes[2] = {30, 18};
  for (const MeasureCase& c : measure_cases()) {
    if (std::string(c.name) == "CKNNA") continue;  // a ratio of mean terms, not a mean of values
    SCOPED_TRACE(c.name);
    auto acc = c.make(3, 3);
    std::vector<double> weighted(9, 0.0);
    int64_t first = 0;
    for (const int64_t count : sizes) {
      std::vector<Matrix> pa, pb;
      const std::vector<FeatureView> a = l.views(first, count, pa), b = m.views(first, count, pb);
      acc->add_batch(a, b);
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) weighted[i * 3 + j] += static_cast<double>(count) * c.full(a[i], b[j]);
      first += count;
    }
    EXPECT_EQ(acc->batches(), 2);
    EXPECT_EQ(acc->examples(), 48);
    const std::vector<double> r = acc->result();
    for (int e = 0; e < 9; ++e) EXPECT_NEAR(r[e], weighted[e] / 48.0, 1e-12) << e;
  }
}

TEST(PairAccumulator, BadBatchesAreRefusedWithAUsefulMessage) {
  const Layers l = some_layers(20, 109);
  std::vector<Matrix> parts;
  for (const MeasureCase& c : measure_cases()) {
    SCOPED_TRACE(c.name);
    // Below the minimum: 2 examples (CCA and ridge need 3; k-NN with k = 4 needs 5, CKNNA 5).
    auto acc = c.make(3, 0);
    std::string error = error_of([&] { acc->add_batch(l.views(0, 2, parts)); });
    EXPECT_TRUE(contains(error, c.name)) << error;
    EXPECT_TRUE(contains(error, "examples per batch, got 2")) << error;
    // Layers of different numbers of examples, named.
    std::vector<Matrix> pa, pb, pc;
    std::vector<FeatureView> mixed = l.views(0, 10, pa);
    const Matrix short_layer = rows_of(l.values[2], l.widths[2], 0, 9);
    mixed[2] = FeatureView(short_layer, 9, l.widths[2], "fc");
    error = error_of([&] { acc->add_batch(mixed); });
    EXPECT_TRUE(contains(error, "same examples")) << error;
    EXPECT_TRUE(contains(error, "layer 'conv1' has 10 rows")) << error;
    EXPECT_TRUE(contains(error, "layer 'fc' has 9")) << error;
    // NaN features, in either network: the layer named.
    Matrix bad = rows_of(l.values[1], l.widths[1], 0, 10);
    bad[7] = NAN;
    std::vector<FeatureView> with_nan = l.views(0, 10, pb);
    with_nan[1] = FeatureView(bad, 10, l.widths[1], "conv2");
    error = error_of([&] { acc->add_batch(with_nan); });
    EXPECT_TRUE(contains(error, "layer 'conv2'")) << error;
    EXPECT_TRUE(contains(error, "NaN")) << error;
    auto two = c.make(3, 3);
    const std::vector<FeatureView> good = l.views(0, 10, pc);
    error = error_of([&] { two->add_batch(good, with_nan); });
    EXPECT_TRUE(contains(error, "layer 'conv2'")) << error;
    // The wrong number of layers, and the wrong call for the mode.
    EXPECT_FALSE(error_of([&] { acc->add_batch(std::vector<FeatureView>(mixed.begin(), mixed.begin() + 2)); }).empty());
    EXPECT_FALSE(error_of([&] { acc->add_batch(good, good); }).empty());
    EXPECT_FALSE(error_of([&] { two->add_batch(good); }).empty());
    // None of it was counted; a good batch still is.
    EXPECT_EQ(acc->batches(), 0);
    EXPECT_EQ(two->batches(), 0);
    acc->add_batch(good);
    EXPECT_EQ(acc->batches(), 1);
    for (double v : acc->result()) EXPECT_TRUE(std::isfinite(v));
  }
  // The neighbour measures need more examples than neighbours.
  knn::MutualKnnAccumulator knn_acc(1, 0, 10);
  const std::string error = error_of([&] { knn_acc.add_batch({l.views(0, 10, parts)[0]}); });
  EXPECT_TRUE(contains(error, "mutual k-NN needs at least 11 examples per batch")) << error;
  EXPECT_TRUE(contains(error_of([] { knn::MutualKnnAccumulator(1, 0, 0); }), "--knn"));
  EXPECT_TRUE(contains(error_of([] { knn::CknnaAccumulator(1, 0, 0); }), "--knn"));
}

// ---------------------------------------------------------------------------------------------
// compare_layers

TEST(MoreMeasures, NamesRoundTripAndTheirProperties) {
  const Measure every[] = {Measure::cka,   Measure::rsa,   Measure::procrustes, Measure::mutual_knn,
                           Measure::cknna, Measure::svcca, Measure::pwcca,      Measure::ridge};
  const char* names[] = {"cka", "rsa", "procrustes", "mutual_knn", "cknna", "svcca", "pwcca", "ridge"};
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_STREQ(measure_name(every[i]), names[i]);
    ASSERT_TRUE(measure_named(names[i]).has_value()) << names[i];
    EXPECT_EQ(*measure_named(names[i]), every[i]);
    EXPECT_TRUE(contains(measure_names(), names[i]));
    const bool added = i >= 3;
    EXPECT_EQ(host_only(every[i]), added) << names[i];
  }
  EXPECT_FALSE(measure_named("bogus").has_value());
  EXPECT_FALSE(measure_named("").has_value());
  EXPECT_FALSE(measure_named("SVCCA").has_value());
  EXPECT_EQ(measure_names(), "cka, rsa, procrustes, mutual_knn, cknna, svcca, pwcca, ridge");
  for (const Measure m : {Measure::pwcca, Measure::ridge, Measure::cknna}) EXPECT_TRUE(asymmetric(m));
  for (const Measure m : {Measure::cka, Measure::rsa, Measure::procrustes, Measure::mutual_knn, Measure::svcca})
    EXPECT_FALSE(asymmetric(m));
  // The batch limits follow --knn.
  CompareSettings s;
  s.knn = 10;
  EXPECT_EQ(batch_limits(Measure::mutual_knn, s).minimum, 11);
  EXPECT_EQ(batch_limits(Measure::cknna, s).minimum, 11);
  s.knn = 1;
  EXPECT_EQ(batch_limits(Measure::mutual_knn, s).minimum, 3);
  EXPECT_EQ(batch_limits(Measure::cknna, s).minimum, 4);
  EXPECT_EQ(batch_limits(Measure::svcca, s).minimum, cca::kMinExamples);
  EXPECT_EQ(batch_limits(Measure::pwcca, s).maximum, cca::kMaxExamples);
  EXPECT_EQ(batch_limits(Measure::ridge, s).maximum, ridge::kMaxExamples);
}

TEST(MoreMeasures, CompareLayersGivesTheAccumulatorsMatricesInOrder) {
  const int64_t n = 50, batch = 25;
  const Layers l = some_layers(n, 111), m = some_layers(n, 113);
  VectorSource a("features A"), b("features B");
  for (size_t i = 0; i < 3; ++i) a.add(l.names[i], l.values[i], n, l.widths[i]);
  for (size_t i = 0; i < 2; ++i) b.add("b_" + m.names[i], m.values[i], n, m.widths[i]);
  CompareSettings s;
  s.measures = {Measure::ridge, Measure::mutual_knn, Measure::svcca, Measure::pwcca, Measure::cknna};
  s.batch_size = batch;
  s.knn = 4;
  s.svcca_variance = 0.95;
  s.ridge = 0.5;
  testing::internal::CaptureStderr();
  const std::vector<SimilarityMatrix> ms = compare_layers(a, &b, s);
  const std::vector<SimilarityMatrix> self = compare_layers(a, nullptr, s);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");  // no advised size to fall below
  ASSERT_EQ(ms.size(), s.measures.size());
  ASSERT_EQ(self.size(), s.measures.size());
  // The same batches through the accumulators.
  const cca::Reduction reduction{0.95};
  std::vector<std::unique_ptr<stats::PairAccumulator>> two, one;
  two.push_back(std::make_unique<ridge::RidgeAccumulator>(3, 2, 0.5));
  two.push_back(std::make_unique<knn::MutualKnnAccumulator>(3, 2, 4));
  two.push_back(std::make_unique<cca::CcaAccumulator>(cca::CcaMeasure::svcca, 3, 2, reduction));
  two.push_back(std::make_unique<cca::CcaAccumulator>(cca::CcaMeasure::pwcca, 3, 2, reduction));
  two.push_back(std::make_unique<knn::CknnaAccumulator>(3, 2, 4));
  one.push_back(std::make_unique<ridge::RidgeAccumulator>(3, 0, 0.5));
  one.push_back(std::make_unique<knn::MutualKnnAccumulator>(3, 0, 4));
  one.push_back(std::make_unique<cca::CcaAccumulator>(cca::CcaMeasure::svcca, 3, 0, reduction));
  one.push_back(std::make_unique<cca::CcaAccumulator>(cca::CcaMeasure::pwcca, 3, 0, reduction));
  one.push_back(std::make_unique<knn::CknnaAccumulator>(3, 0, 4));
  for (int64_t first = 0; first < n; first += batch) {
    std::vector<Matrix> pa, pb;
    const std::vector<FeatureView> va = l.views(first, batch, pa);
    std::vector<FeatureView> vb = m.views(first, batch, pb);
    vb.pop_back();
    for (auto& acc : two) acc->add_batch(va, vb);
    for (auto& acc : one) acc->add_batch(va);
  }
  const std::vector<std::vector<std::pair<std::string, double>>> parameters{
      {{"ridge", 0.5}}, {{"knn", 4.0}}, {{"svcca_variance", 0.95}}, {{"svcca_variance", 0.95}}, {{"knn", 4.0}}};
  for (size_t r = 0; r < s.measures.size(); ++r) {
    SCOPED_TRACE(measure_name(s.measures[r]));
    for (const auto& [mat, acc, cols] :
         {std::tuple{&ms[r], two[r].get(), int64_t{2}}, std::tuple{&self[r], one[r].get(), int64_t{3}}}) {
      EXPECT_EQ(mat->measure, s.measures[r]);
      EXPECT_EQ(mat->rows, 3);
      EXPECT_EQ(mat->cols, cols);
      EXPECT_EQ(mat->row_names, l.names);
      EXPECT_EQ(mat->col_names, cols == 2 ? (std::vector<std::string>{"b_conv1", "b_conv2"}) : l.names);
      EXPECT_EQ(mat->examples, n);
      EXPECT_EQ(mat->batches, 2);
      EXPECT_EQ(mat->precision, "cpu fp64");
      EXPECT_EQ(mat->parameters, parameters[r]);
      const std::vector<double> expected = acc->result();
      ASSERT_EQ(mat->values.size(), expected.size());
      for (size_t e = 0; e < expected.size(); ++e) EXPECT_NEAR(mat->values[e], expected[e], 1e-12) << e;
      const bool cca_measure = s.measures[r] == Measure::svcca || s.measures[r] == Measure::pwcca;
      if (cca_measure) {
        EXPECT_EQ(mat->kept_dims, dynamic_cast<const cca::CcaAccumulator*>(acc)->dims());
        EXPECT_EQ(mat->kept_dims.size(), cols == 2 ? 5u : 3u);
        for (const int64_t d : mat->kept_dims) EXPECT_GT(d, 0);
      } else {
        EXPECT_TRUE(mat->kept_dims.empty());
      }
    }
  }
  // A fixed number of directions is recorded as such, and kept where the rank allows.
  s.svcca_dims = 5;
  s.measures = {Measure::pwcca, Measure::svcca};
  const std::vector<SimilarityMatrix> fixed = compare_layers(a, &b, s);
  ASSERT_EQ(fixed.size(), 2u);
  for (const SimilarityMatrix& mat : fixed) {
    EXPECT_EQ(mat.parameters, (std::vector<std::pair<std::string, double>>{{"svcca_dims", 5.0}}));
    EXPECT_EQ(mat.kept_dims, (std::vector<int64_t>{5, 5, 5, 5, 5}));  // widths 7, 5, 6 | 7, 5
  }
  EXPECT_EQ(fixed[0].measure, Measure::pwcca);
  EXPECT_EQ(fixed[1].measure, Measure::svcca);
}

TEST(MoreMeasures, ABatchWithoutRoomForTheNeighboursNamesBatchSize) {
  const int64_t n = 40;
  const Matrix x = random_normal(n, 4, 121);
  VectorSource a("features A");
  a.add("x", x, n, 4);
  CompareSettings s;
  s.knn = 10;
  for (const auto& [measure, name] :
       {std::pair{Measure::mutual_knn, "mutual k-NN"}, std::pair{Measure::cknna, "CKNNA"}}) {
    SCOPED_TRACE(name);
    s.measures = {measure};
    s.batch_size = 10;  // knn + 1 = 11 needed
    const std::string direct = error_of([&] { analysis_detail::check_batch_size(n, s); });
    const std::string error = error_of([&] { compare_layers(a, nullptr, s); });
    EXPECT_TRUE(contains(error, direct)) << error;
    EXPECT_TRUE(contains(error, fmt::format("{} needs batches of at least 11 examples", name))) << error;
    EXPECT_TRUE(contains(error, "--knn")) << error;
    EXPECT_TRUE(contains(error, "raise --batch-size to 11 or more")) << error;
    // Fewer examples than that: one batch of all of them, whatever the batch size.
    s.batch_size = 1000;
    const std::string few = error_of([&] { analysis_detail::check_batch_size(8, s); });
    EXPECT_TRUE(contains(few, "only 8 examples are used")) << few;
    EXPECT_TRUE(contains(few, "--batch-size")) << few;
    // At knn + 1 it runs.
    s.batch_size = 11;
    EXPECT_EQ(error_of([&] { analysis_detail::check_batch_size(n, s); }), "");
    EXPECT_EQ(compare_layers(a, nullptr, s).front().batches, 3);  // 40 = 3 x 11 + 7: the 7 dropped
  }
  // The CCA and ridge measures need 3.
  s.measures = {Measure::svcca, Measure::pwcca, Measure::ridge};
  s.batch_size = 2;
  const std::string error = error_of([&] { compare_layers(a, nullptr, s); });
  EXPECT_TRUE(contains(error, "needs batches of at least 3 examples")) << error;
  EXPECT_TRUE(contains(error, "--batch-size")) << error;
  // And the settings themselves are checked.
  s.batch_size = 10;
  s.ridge = 0.0;
  EXPECT_TRUE(contains(error_of([&] { compare_layers(a, nullptr, s); }), "--ridge"));
  s.ridge = 0.1;
  s.svcca_variance = 1.5;
  EXPECT_TRUE(contains(error_of([&] { compare_layers(a, nullptr, s); }), "--svcca-variance"));
  s.svcca_variance = 0.99;
  s.knn = 0;
  s.measures = {Measure::mutual_knn};
  EXPECT_TRUE(contains(error_of([&] { compare_layers(a, nullptr, s); }), "--knn"));
}

TEST(MoreMeasures, NaNFeaturesInCompareLayersNameTheLayerAndTheSource) {
  const int64_t n = 20;
  Matrix x = random_normal(n, 4, 123);
  const Matrix y = random_normal(n, 3, 124);
  x[15 * 4 + 2] = NAN;  // example 15: the second batch
  VectorSource a("features A");
  a.add("good", y, n, 3);
  a.add("conv3", x, n, 4);
  for (const Measure m : {Measure::mutual_knn, Measure::cknna, Measure::svcca, Measure::pwcca, Measure::ridge}) {
    SCOPED_TRACE(measure_name(m));
    CompareSettings s;
    s.measures = {m};
    s.knn = 3;
    s.batch_size = 10;
    const std::string error = error_of([&] { compare_layers(a, nullptr, s); });
    EXPECT_TRUE(contains(error, "layer 'conv3'")) << error;
    EXPECT_TRUE(contains(error, "NaN")) << error;
    EXPECT_TRUE(contains(error, "features A")) << error;
  }
}

// The same features at any float64 scale, subnormal to 1e300, give the same values of every
// new measure through compare_layers (one power of two per layer brings them to order 1).
TEST(MoreMeasures, CompareLayersIsScaleFreeFromSubnormalTo1e300) {
  const int64_t n = 40, batch = 20;
  const Layers l = some_layers(n, 131);
  // No near-tie among the neighbours of a batch: rounding cannot move a neighbour set.
  for (int64_t first = 0; first < n; first += batch)
    for (size_t i = 0; i < 3; ++i) {
      const Matrix part = rows_of(l.values[i], l.widths[i], first, batch);
      ASSERT_GT(smallest_boundary_gap(reference_cosines(part, batch, l.widths[i]), batch, 4), 1e-9);
    }
  CompareSettings s;
  s.measures = {Measure::mutual_knn, Measure::cknna, Measure::svcca, Measure::pwcca, Measure::ridge};
  s.batch_size = batch;
  s.knn = 4;
  const auto run = [&](double scale_a, double scale_b) {
    VectorSource a("features A"), b("features B");
    for (size_t i = 0; i < 3; ++i) {
      Matrix xa(l.values[i]), xb(l.values[i]);
      for (double& v : xa) v *= scale_a;
      for (double& v : xb) v *= scale_b;
      a.add(l.names[i], xa, n, l.widths[i]);
      b.add(l.names[i], xb, n, l.widths[i]);
    }
    std::vector<std::vector<double>> out;
    for (const SimilarityMatrix& m : compare_layers(a, &b, s)) out.push_back(m.values);
    return out;
  };
  const std::vector<std::vector<double>> base = run(1.0, 1.0);
  for (size_t m = 0; m < base.size(); ++m)
    for (size_t e = 0; e < base[m].size(); ++e) ASSERT_TRUE(std::isfinite(base[m][e])) << m << " " << e;
  for (const double scale_a : {1e-310, 1e-160, 1.0, 1e160, 1e300})
    for (const double scale_b : {1e-310, 1e100, 1e300}) {
      SCOPED_TRACE(fmt::format("A at {}, B at {}", scale_a, scale_b));
      const std::vector<std::vector<double>> values = run(scale_a, scale_b);
      ASSERT_EQ(values.size(), base.size());
      for (size_t m = 0; m < base.size(); ++m)
        for (size_t e = 0; e < base[m].size(); ++e)
          EXPECT_NEAR(values[m][e], base[m][e], 1e-10) << measure_name(s.measures[m]) << " " << e;
    }
}

// Against one network B (compare_against: evolution, identify), B's Grams are formed once per
// batch for every comparison, and each comparison's matrices and permutation tests are those
// it gives alone.
TEST(MoreMeasures, ComparisonsAgainstOneNetworkShareItsGrams) {
  const int64_t n = 60;
  const Layers ref = some_layers(n, 301), x = some_layers(n, 303), y = some_layers(n, 307);
  const auto source = [&](const Layers& l, const std::string& name) {
    VectorSource out(name);
    for (size_t i = 0; i < l.values.size(); ++i) out.add(l.names[i], l.values[i], n, l.widths[i]);
    return out;
  };
  VectorSource r = source(ref, "reference"), a = source(x, "A"), b = source(y, "B");
  CompareSettings s;
  s.measures = {Measure::mutual_knn, Measure::svcca, Measure::ridge, Measure::cka};
  s.knn = 4;
  s.batch_size = 30;
  s.permutations = 9;
  const auto together = compare_against({&a, &b, &r}, r, s);
  ASSERT_EQ(together.size(), 3u);
  for (size_t c = 0; c < 2; ++c) {
    const auto alone = compare_layers(c == 0 ? a : b, &r, s);
    ASSERT_EQ(alone.size(), together[c].size());
    for (size_t m = 0; m < alone.size(); ++m) {
      EXPECT_EQ(together[c][m].values, alone[m].values) << measure_name(alone[m].measure);
      EXPECT_EQ(together[c][m].permutation->p_value, alone[m].permutation->p_value) << measure_name(alone[m].measure);
    }
  }

  // The sharing itself: two comparisons' runs fed one batch against the same B.
  analysis_detail::LayerNames names{x.names, ref.names, false};
  const analysis_detail::ReferenceGrams shared = analysis_detail::make_reference_grams(false, cpu());
  auto first = analysis_detail::make_measure_runs(false, cpu(), names, s, &shared);
  auto second = analysis_detail::make_measure_runs(false, cpu(), names, s, &shared);
  std::vector<Tensor> fa = a.batch(0, 30), fb = r.batch(0, 30), fc = b.batch(0, 30);
  for (auto& run : first) run->add_batch(fa, fb);
  for (auto& run : second) run->add_batch(fc, fb);
  // Each of B's 3 layers: its raw Gram (mutual k-NN) and its centred one (SVCCA, ridge, CKA's
  // null), once for both comparisons.
  EXPECT_EQ(shared.host->grams_formed(), 6);
}

}  // namespace
}  // namespace convlab
