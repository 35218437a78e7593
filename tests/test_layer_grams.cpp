// The host side of the float64 measures' GPU path, on the CPU: what the measures read of a
// layer (linalg::LayerGrams) may come from elsewhere than a FeatureView, as it does from a GPU
// (linalg::DeviceLayerGrams). Here a stand-in serves every layer the way the CUDA twin hands
// results back: the eigenvectors in rows (cuSOLVER's column-major output, through
// spectrum_from_eigen), the exact copies through hashes that all collide (first_copies_by_hash,
// every candidate settled by comparing bytes). The measures, their permutation tests and CKA's
// null must then give exactly what they give from the features. The GPU's own arithmetic is
// compared with the CPU's in test_measures_cuda.cpp.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "framework/analysis/compare.h"
#include "framework/analysis/permutation_null.h"
#include "framework/cca/cca.h"
#include "framework/knn/cknna.h"
#include "framework/knn/mutual_knn.h"
#include "framework/linalg/centred_spectrum.h"
#include "framework/linalg/first_copies.h"
#include "framework/linalg/layer_grams.h"
#include "framework/linalg/pair_products.h"
#include "framework/linalg/symmetric_eigen.h"
#include "framework/ridge/ridge.h"
#include "framework/stats/pair_accumulator.h"
#include "tests/support/dense_matrix.h"
#include "tests/support/measure_data.h"

namespace convlab {
namespace {

using cka::FeatureView;
using test_support::Matrix;

// A layer served as the CUDA twin serves it, from the CPU's arithmetic.
class ServedLayer final : public linalg::LayerGrams {
 public:
  explicit ServedLayer(const FeatureView& x) : x_(x) {}
  int64_t rows() const override { return x_.rows(); }
  const std::string& name() const override { return x_.name(); }
  const std::vector<double>& gram(linalg::Centring centring, int* exponent) override {
    std::vector<double>& g = centring == linalg::Centring::none ? raw_ : centred_;
    int& e = centring == linalg::Centring::none ? raw_exponent_ : centred_exponent_;
    if (g.empty()) g = linalg::gram_f64(x_, centring, &e);
    if (exponent) *exponent = e;
    return g;
  }
  const linalg::CentredSpectrum& spectrum() override {
    const int64_t n = rows();
    std::vector<double> k = gram(linalg::Centring::columns, nullptr);
    const double trace = linalg::gram_trace(k, n);
    if (!(trace > 0.0)) return spectrum_ = linalg::constant_spectrum(n);
    for (double& v : k) v /= trace;
    const std::vector<double> ascending = linalg::symmetric_eigen(k, n);
    std::vector<double> in_rows(k.size());  // eigenvector j in row j
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) in_rows[static_cast<size_t>(j * n + i)] = k[static_cast<size_t>(i * n + j)];
    return spectrum_ = linalg::spectrum_from_eigen(ascending, in_rows, n, /*vectors_in_rows=*/true);
  }
  std::vector<int64_t> first_copies() override {
    const int64_t p = x_.cols();
    return linalg::first_copies_by_hash(std::vector<uint64_t>(static_cast<size_t>(rows()), 42),
                                        [&](int64_t a, int64_t b) {
                                          return std::memcmp(x_.f64() + a * p, x_.f64() + b * p,
                                                             static_cast<size_t>(p) * sizeof(double)) == 0;
                                        });
  }

 private:
  const FeatureView& x_;
  std::vector<double> raw_, centred_;
  int raw_exponent_ = 0, centred_exponent_ = 0;
  linalg::CentredSpectrum spectrum_;
};

struct Network {
  std::vector<Matrix> values;
  std::vector<int64_t> widths;
  std::vector<std::string> names;
};

// Related, decaying and unrelated layers; examples 3 and 17 of every layer are copies of
// example 1 (and example 30 of 2), so that the nearest-neighbour measures meet exact ties.
Network network(int64_t n, uint64_t seed, const std::string& prefix) {
  Network out;
  const Matrix a = test_support::decaying(n, 9, seed);
  out.values = {a, test_support::related(a, n, 9, 6, seed + 1), test_support::random_normal(n, 40, seed + 2)};
  out.widths = {9, 6, 40};
  out.names = {prefix + "1", prefix + "2", prefix + "3"};
  for (size_t l = 0; l < out.values.size(); ++l) {
    const int64_t p = out.widths[l];
    Matrix& v = out.values[l];
    for (const auto& [from, to] : {std::pair{1, 3}, std::pair{1, 17}, std::pair{2, 30}})
      std::copy(v.begin() + from * p, v.begin() + (from + 1) * p, v.begin() + to * p);
  }
  return out;
}

std::vector<FeatureView> views(const Network& net, int64_t first, int64_t count, std::vector<Matrix>& parts) {
  std::vector<FeatureView> out;
  for (size_t l = 0; l < net.values.size(); ++l) {
    parts.push_back(test_support::rows_of(net.values[l], net.widths[l], first, count));
  }
  for (size_t l = 0; l < net.values.size(); ++l)
    out.emplace_back(parts[parts.size() - net.values.size() + l], count, net.widths[l], net.names[l]);
  return out;
}

std::vector<std::function<std::unique_ptr<stats::PairAccumulator>(int64_t, int64_t)>> accumulators() {
  return {
      [](int64_t a, int64_t b) { return std::make_unique<knn::MutualKnnAccumulator>(a, b, 5); },
      [](int64_t a, int64_t b) { return std::make_unique<knn::CknnaAccumulator>(a, b, 5); },
      [](int64_t a, int64_t b) {
        return std::make_unique<cca::CcaAccumulator>(cca::CcaMeasure::svcca, a, b, cca::Reduction{});
      },
      [](int64_t a, int64_t b) {
        return std::make_unique<cca::CcaAccumulator>(cca::CcaMeasure::pwcca, a, b, cca::Reduction{0.99, 4});
      },
      [](int64_t a, int64_t b) { return std::make_unique<ridge::RidgeAccumulator>(a, b, 0.1); },
  };
}

}  // namespace

TEST(LayerGrams, FirstCopiesByHashAreFirstCopiesWhateverTheHashes) {
  const int64_t n = 60, p = 5;
  Matrix x = test_support::random_normal(n, p, 3);
  for (const auto& [from, to] : {std::pair{0, 9}, std::pair{9, 40}, std::pair{4, 5}, std::pair{7, 59}})
    std::copy(x.begin() + from * p, x.begin() + (from + 1) * p, x.begin() + to * p);
  x[static_cast<size_t>(5 * p + 2)] = -0.0;  // bytes that differ from row 4's 0.0, were it 0.0
  x[static_cast<size_t>(4 * p + 2)] = 0.0;
  const FeatureView v(x, n, p);
  const std::vector<int64_t> expected = linalg::first_copies(v);
  EXPECT_EQ(expected[9], 0);
  EXPECT_EQ(expected[40], 0);
  EXPECT_EQ(expected[59], 7);
  EXPECT_EQ(expected[5], 5);
  const auto same = [&](int64_t a, int64_t b) {
    return std::memcmp(x.data() + a * p, x.data() + b * p, p * sizeof(double)) == 0;
  };
  for (const int64_t buckets : {1, 3, 1000}) {
    std::vector<uint64_t> hashes(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) hashes[static_cast<size_t>(i)] = static_cast<uint64_t>(expected[i] % buckets);
    EXPECT_EQ(linalg::first_copies_by_hash(hashes, same), expected) << buckets << " buckets";
  }
}

TEST(LayerGrams, SpectrumFromEigenvectorsInRowsIsTheSame) {
  const int64_t n = 40;
  const Matrix x = test_support::decaying(n, 12, 5);
  const FeatureView v(x, n, 12);
  const linalg::CentredSpectrum expected = linalg::centred_spectrum(v);
  ServedLayer served(v);
  const linalg::CentredSpectrum& got = served.spectrum();
  EXPECT_EQ(got.values, expected.values);
  EXPECT_EQ(got.vectors, expected.vectors);
  EXPECT_EQ(got.rank, expected.rank);
  EXPECT_EQ(got.rank, 12);
}

// Every float64 measure and its permutation test, fed served layers (add_layers) or the
// features (add_batch): the same matrices and nulls, bit for bit.
TEST(LayerGrams, MeasuresReadServedLayersAsTheyReadFeatures) {
  const int64_t n = 96;
  const Network a = network(n, 11, "a"), b = network(n, 21, "b");
  for (const bool pair : {false, true}) {
    for (const auto& make : accumulators()) {
      auto from_features = make(3, pair ? 3 : 0), from_layers = make(3, pair ? 3 : 0);
      from_features->set_permutations(7, 3);
      from_layers->set_permutations(7, 3);
      for (const auto& [first, count] : {std::pair{0, 48}, std::pair{48, 48}}) {
        std::vector<Matrix> parts;
        const std::vector<FeatureView> va = views(a, first, count, parts);
        const std::vector<FeatureView> vb = pair ? views(b, first, count, parts) : std::vector<FeatureView>{};
        if (pair)
          from_features->add_batch(va, vb);
        else
          from_features->add_batch(va);
        std::vector<std::unique_ptr<ServedLayer>> served;
        std::vector<linalg::LayerGrams*> rows;
        for (const FeatureView& v : va) served.push_back(std::make_unique<ServedLayer>(v));
        for (const FeatureView& v : vb) served.push_back(std::make_unique<ServedLayer>(v));
        for (auto& s : served) rows.push_back(s.get());
        from_layers->add_layers(rows);
      }
      EXPECT_EQ(from_layers->result(), from_features->result()) << (pair ? "pair" : "self");
      EXPECT_EQ(from_layers->null_values(), from_features->null_values()) << (pair ? "pair" : "self");
      EXPECT_EQ(from_layers->pairs().label(0), from_features->pairs().label(0));
    }
  }
}

TEST(LayerGrams, CkaNullReadsServedLayersAsItReadsFeatures) {
  const int64_t n = 64;
  const Network a = network(n, 31, "a"), b = network(n, 41, "b");
  CompareSettings s;
  s.kernels = {cka::Kernel::linear(), cka::Kernel::rbf(0.5)};
  s.permutations = 9;
  s.seed = 2;
  analysis_detail::LayerNames names{a.names, b.names, false};
  analysis_detail::HostNull from_features(Measure::cka, names, s), from_layers(Measure::cka, names, s);
  std::vector<Matrix> parts;
  const std::vector<FeatureView> va = views(a, 0, n, parts), vb = views(b, 0, n, parts);
  from_features.add_batch(va, vb);
  std::vector<std::unique_ptr<ServedLayer>> served;
  std::vector<linalg::LayerGrams*> rows;
  for (const auto* layers : {&va, &vb})
    for (const FeatureView& v : *layers) served.push_back(std::make_unique<ServedLayer>(v));
  for (auto& l : served) rows.push_back(l.get());
  from_layers.add_layers(rows);
  for (size_t o = 0; o < 2; ++o) EXPECT_EQ(from_layers.null_values(o), from_features.null_values(o)) << "kernel " << o;
}

// A permuted copy's products are those of the matrix permuted by hand: rows alone for a basis,
// rows and columns for a Gram (the twin of the GPU's gather, test_measures_cuda.cpp).
TEST(PairProducts, PermutedCopiesAreThePermutedMatrices) {
  const int64_t n = 9, d = 4;
  const Matrix a = test_support::random_normal(n, d, 1), b = test_support::random_normal(n, 3, 2);
  Matrix m = test_support::random_normal(n, n, 3), l = test_support::random_normal(n, n, 4);
  for (Matrix* x : {&m, &l})
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < i; ++j) (*x)[static_cast<size_t>(i * n + j)] = (*x)[static_cast<size_t>(j * n + i)];
  const std::vector<int32_t> perm{4, 0, 8, 1, 7, 2, 6, 3, 5};
  Matrix pb(b.size()), pl(l.size());
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t c = 0; c < 3; ++c) pb[static_cast<size_t>(i * 3 + c)] = b[static_cast<size_t>(perm[i] * 3 + c)];
    for (int64_t j = 0; j < n; ++j) pl[static_cast<size_t>(i * n + j)] = l[static_cast<size_t>(perm[i] * n + perm[j])];
  }
  linalg::HostPairProducts p;
  p.set(0, a, n, d);
  p.set(1, b, n, 3);
  p.set(2, m, n, n);
  p.set(3, l, n, n);
  p.set_permuted(1, perm, false);
  p.set_permuted(3, perm, true);
  for (const bool left : {true, false})
    EXPECT_EQ(p.cross_gram(0, 1, true, left), linalg::cross_gram(a.data(), pb.data(), n, d, 3, left));
  EXPECT_EQ(p.sandwich_diagonal(2, 3, true), linalg::sandwich_diagonal(m.data(), pl.data(), n));
  EXPECT_EQ(p.sandwich_diagonal(2, 3, false), linalg::sandwich_diagonal(m.data(), l.data(), n));
  EXPECT_NE(p.sandwich_diagonal(2, 3, true), p.sandwich_diagonal(2, 3, false));
}

}  // namespace convlab
