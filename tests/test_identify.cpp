// Which layer is which (Kornblith et al. 2019, table 2): the credit rule, the accuracy over
// ordered pairs, and the test itself on synthetic "networks" whose layers are noisy rotations
// of shared ones, where CKA must find every layer.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "framework/analysis/identify.h"
#include "framework/core/error.h"
#include "tests/support/dense_matrix.h"
#include "tests/support/error_of.h"
#include "tests/support/vector_source.h"

namespace convlab {
namespace {

using test_support::error_of;
using test_support::Matrix;
using test_support::VectorSource;

TEST(IdentifyCredit, UniqueBestTiesWrongAndNaN) {
  const double unique[] = {0.1, 0.9, 0.3};
  EXPECT_EQ(identification_credit(unique, 3, 1, false), 1.0);
  EXPECT_EQ(identification_credit(unique, 3, 0, false), 0.0);
  EXPECT_EQ(identification_credit(unique, 3, 0, true), 1.0);  // a distance: the smallest is best
  const double tie[] = {0.7, 0.7, 0.2, 0.7};
  EXPECT_DOUBLE_EQ(identification_credit(tie, 4, 3, false), 1.0 / 3.0);
  EXPECT_EQ(identification_credit(tie, 4, 2, false), 0.0);
  const double with_nan[] = {NAN, 0.5, 0.4};
  EXPECT_EQ(identification_credit(with_nan, 3, 1, false), 1.0);  // NaN is never the most similar
  EXPECT_EQ(identification_credit(with_nan, 3, 0, false), 0.0);
  const double all_nan[] = {NAN, NAN};
  EXPECT_EQ(identification_credit(all_nan, 2, 0, false), 0.0);
}

SimilarityMatrix square(const std::vector<double>& values, int64_t layers, Measure measure = Measure::cka) {
  SimilarityMatrix m;
  m.measure = measure;
  m.rows = m.cols = layers;
  m.values = values;
  for (int64_t i = 0; i < layers; ++i) m.row_names.push_back("l" + std::to_string(i));
  m.col_names = m.row_names;
  return m;
}

TEST(IdentifyLayers, AccuracyOverPairsAndLayers) {
  // Pair 1: layers 0 and 1 right, layer 2 wrong; pair 2: all right. 5 of 6.
  const SimilarityMatrix first = square({0.9, 0.1, 0.0, 0.2, 0.8, 0.1, 0.0, 0.9, 0.5}, 3);
  const SimilarityMatrix second = square({0.9, 0.1, 0.0, 0.2, 0.8, 0.1, 0.0, 0.4, 0.5}, 3);
  // Procrustes, a distance: the smallest of a row is the most similar.
  const SimilarityMatrix distance = square({0.1, 0.5, 0.9, 0.5, 0.2, 0.9, 0.9, 0.9, 0.3}, 3, Measure::procrustes);
  const std::vector<IdentifyRow> rows = identify_layers({{first, distance}, {second, distance}});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].measure, "cka linear");
  EXPECT_DOUBLE_EQ(rows[0].accuracy, 5.0 / 6.0);
  EXPECT_EQ(rows[0].layers, 3);
  EXPECT_EQ(rows[0].pairs, 2);
  EXPECT_EQ(rows[0].per_layer, (std::vector<double>{1.0, 1.0, 0.5}));
  EXPECT_EQ(rows[1].measure, "procrustes");
  EXPECT_DOUBLE_EQ(rows[1].accuracy, 1.0);
}

TEST(IdentifyLayers, NetworksOfDifferentArchitecturesAreRefused) {
  SimilarityMatrix other = square({1, 0, 0, 1}, 2);
  other.col_names = {"a", "b"};
  const std::string error = error_of([&] { identify_layers({{square({1, 0, 0, 1}, 2)}, {other}}); });
  EXPECT_NE(error.find("one architecture"), std::string::npos) << error;

  VectorSource a("network A"), b("network B");
  a.add("conv1", test_support::random_normal(20, 4, 1), 20, 4);
  b.add("conv2", test_support::random_normal(20, 4, 2), 20, 4);
  const std::string named = error_of([&] { identify_layers({&a, &b}, CompareSettings{}); });
  EXPECT_NE(named.find("conv1"), std::string::npos) << named;
  EXPECT_NE(named.find("conv2"), std::string::npos) << named;
  EXPECT_NE(error_of([&] { identify_layers({&a}, CompareSettings{}); }).find("two or more"), std::string::npos);
}

// Shared layers Z_1 .. Z_L, each the last one through a random map and tanh (so neighbouring
// layers are related, as in a network), and "networks" whose layer l is Z_l rotated by a
// random orthogonal matrix of their own plus a little noise: what different seeds of one
// architecture look like to a measure invariant to rotations.
std::vector<VectorSource> seeded_networks(int64_t networks, int64_t layers, int64_t n, int64_t p, double noise) {
  std::vector<Matrix> shared;
  Matrix z = test_support::random_normal(n, p, 7);
  for (int64_t l = 0; l < layers; ++l) {
    const Matrix w = test_support::random_normal(p, p, 100 + static_cast<uint64_t>(l));
    Matrix next = test_support::matmul(z, w, n, p, p);
    for (double& v : next) v = std::tanh(v / std::sqrt(static_cast<double>(p)));
    shared.push_back(next);
    z = next;
  }
  std::vector<VectorSource> out;
  for (int64_t s = 0; s < networks; ++s) {
    out.emplace_back("seed " + std::to_string(s));
    for (int64_t l = 0; l < layers; ++l) {
      const uint64_t seed = 1000 + static_cast<uint64_t>(s * layers + l);
      Matrix x = test_support::matmul(shared[l], test_support::random_orthogonal(p, seed), n, p, p);
      const Matrix e = test_support::random_normal(n, p, seed + 500);
      for (size_t i = 0; i < x.size(); ++i) x[i] += noise * e[i];
      out.back().add("layer" + std::to_string(l), x, n, p);
    }
  }
  return out;
}

TEST(IdentifyLayers, CkaFindsEveryLayerOfNoisyRotationsOfSharedLayers) {
  std::vector<VectorSource> nets = seeded_networks(3, 5, 240, 12, 0.05);
  std::vector<FeatureSource*> sources;
  for (VectorSource& n : nets) sources.push_back(&n);
  CompareSettings s;
  s.measures = {Measure::cka,   Measure::rsa,   Measure::procrustes, Measure::mutual_knn,
                Measure::cknna, Measure::svcca, Measure::pwcca,      Measure::ridge};
  s.kernels = {cka::Kernel::linear(), cka::Kernel::rbf(1.0)};
  s.batch_size = 120;
  std::vector<std::vector<SimilarityMatrix>> matrices;
  const std::vector<IdentifyRow> rows = identify_layers(sources, s, &matrices);
  ASSERT_EQ(rows.size(), 9u);  // CKA's two kernels, then the other seven measures
  ASSERT_EQ(matrices.size(), 6u);
  const auto pairs = identify_pairs(3);
  ASSERT_EQ(pairs.size(), 6u);
  for (size_t p = 0; p < pairs.size(); ++p) {
    EXPECT_EQ(matrices[p].front().row_source, "seed " + std::to_string(pairs[p].first));
    EXPECT_EQ(matrices[p].front().col_source, "seed " + std::to_string(pairs[p].second));
  }
  for (const IdentifyRow& r : rows) {
    EXPECT_EQ(r.layers, 5);
    EXPECT_EQ(r.pairs, 6);
    EXPECT_GE(r.accuracy, 0.0);
    EXPECT_LE(r.accuracy, 1.0);
  }
  EXPECT_EQ(rows[0].measure, "cka linear");
  EXPECT_EQ(rows[0].accuracy, 1.0);
  EXPECT_EQ(rows[1].measure, "cka rbf");
  EXPECT_EQ(rows[1].accuracy, 1.0);
  // Procrustes and mutual k-NN, also invariant to rotations, find them too. SVCCA does not
  // (0.63 here): it is invariant to every invertible linear map, and neighbouring layers are
  // nearly linear maps of each other, the weakness Kornblith et al. report for CCA.
  for (const IdentifyRow& r : rows)
    if (r.measure == "procrustes" || r.measure == "mutual_knn") EXPECT_EQ(r.accuracy, 1.0) << r.measure;
}

TEST(IdentifyLayers, UnrelatedNetworksAreFoundAboutAsOftenAsChance) {
  // Independent layers: no measure can tell, and the accuracy is about 1 / L.
  std::vector<VectorSource> nets;
  for (int64_t s = 0; s < 2; ++s) {
    nets.emplace_back("random " + std::to_string(s));
    for (int64_t l = 0; l < 8; ++l)
      nets.back().add("layer" + std::to_string(l), test_support::random_normal(100, 10, 50 + 10 * s + l), 100, 10);
  }
  CompareSettings s;
  s.measures = {Measure::cka};
  const std::vector<IdentifyRow> rows = identify_layers({&nets[0], &nets[1]}, s);
  EXPECT_LE(rows[0].accuracy, 0.5);  // 16 draws of chance 1/8: 8 or more right has p < 1e-4
}

// The warnings about the settings hold for every ordered pair alike: printed once, not once
// per comparison (here a small batch for Procrustes and too few permutations for Holm).
TEST(IdentifyLayers, WarningsAboutTheSettingsArePrintedOnce) {
  std::vector<VectorSource> nets = seeded_networks(3, 2, 40, 4, 0.05);
  std::vector<FeatureSource*> sources;
  for (VectorSource& n : nets) sources.push_back(&n);
  CompareSettings s;
  s.measures = {Measure::procrustes};
  s.batch_size = 20;
  s.permutations = 3;
  testing::internal::CaptureStderr();
  identify_layers(sources, s);
  const std::string printed = testing::internal::GetCapturedStderr();
  const auto count = [&](const std::string& part) {
    int64_t found = 0;
    for (size_t at = printed.find(part); at != std::string::npos; at = printed.find(part, at + 1)) ++found;
    return found;
  };
  EXPECT_EQ(count("Procrustes in batches of 20 examples"), 1) << printed;
  EXPECT_EQ(count("permutations no cell"), 1) << printed;
}

}  // namespace
}  // namespace convlab
