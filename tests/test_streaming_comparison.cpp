// StreamingComparison (analysis/streaming_comparison.h): batches handed over by the caller give
// the matrices compare_layers gives over the same batches, borrowed features are never changed,
// and a bad batch is refused with a message naming it.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "framework/analysis/compare.h"
#include "framework/analysis/streaming_comparison.h"
#include "kernels/philox.h"

namespace convlab {
namespace {

// (n, p) values with structure shared between layers, so that the matrices are not trivial.
std::vector<double> features(int64_t n, int64_t p, uint32_t layer, double scale = 1.0) {
  std::vector<double> x(static_cast<size_t>(n * p));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < p; ++j)
      x[i * p + j] = scale * (kernels::random_uniform({7, 0, 0}, i * 31 + j % 5) +
                              kernels::random_uniform({7, layer, 1}, i * p + j));
  return x;
}

// Rows [first, first + count) of (n, p) values as a borrowed tensor.
Tensor rows_of(std::vector<double>& x, int64_t p, int64_t first, int64_t count) {
  return Tensor::borrow(x.data() + first * p, {count, p}, DType::f64, cpu());
}

// The same layers as a FeatureSource, for compare_layers.
class VectorSource final : public FeatureSource {
 public:
  VectorSource(std::vector<std::vector<double>>* layers, std::vector<int64_t> widths, int64_t n)
      : layers_(layers), widths_(std::move(widths)), n_(n) {}
  std::string description() const override { return "vectors"; }
  std::vector<std::string> layer_names() const override {
    std::vector<std::string> names;
    for (size_t l = 0; l < widths_.size(); ++l) names.push_back("layer" + std::to_string(l));
    return names;
  }
  int64_t examples() const override { return n_; }
  std::vector<Tensor> batch(int64_t first, int64_t count) override {
    std::vector<Tensor> out;
    for (size_t l = 0; l < widths_.size(); ++l) out.push_back(rows_of((*layers_)[l], widths_[l], first, count).clone());
    return out;
  }

 private:
  std::vector<std::vector<double>>* layers_;
  std::vector<int64_t> widths_;
  int64_t n_;
};

TEST(StreamingComparison, BatchesGiveWhatCompareLayersGives) {
  const int64_t n = 70, k = 30;  // batches of 30, 30 and 10
  const std::vector<int64_t> widths{12, 40, 5};
  std::vector<std::vector<double>> layers;
  for (size_t l = 0; l < widths.size(); ++l) layers.push_back(features(n, widths[l], static_cast<uint32_t>(l)));
  CompareSettings s;
  s.measures = {Measure::cka, Measure::rsa, Measure::procrustes};
  s.kernels = {cka::Kernel::linear(), cka::Kernel::rbf(0.5)};
  s.batch_size = k;
  VectorSource source(&layers, widths, n);
  const std::vector<SimilarityMatrix> expected = compare_layers(source, nullptr, s);

  StreamingComparison streaming(source.layer_names(), {}, s);
  for (int64_t first = 0; first < n; first += k) {
    std::vector<Tensor> batch, none;
    for (size_t l = 0; l < widths.size(); ++l) batch.push_back(rows_of(layers[l], widths[l], first, std::min(k, n - first)));
    streaming.add(batch, none);
  }
  const std::vector<SimilarityMatrix> got = streaming.result();
  ASSERT_EQ(got.size(), expected.size());  // two CKA kernels, RSA, Procrustes
  EXPECT_EQ(streaming.batches(), 3);
  EXPECT_EQ(streaming.examples(), n);
  for (size_t m = 0; m < got.size(); ++m) {
    EXPECT_EQ(got[m].measure, expected[m].measure);
    ASSERT_EQ(got[m].values.size(), expected[m].values.size());
    for (size_t i = 0; i < got[m].values.size(); ++i)
      EXPECT_DOUBLE_EQ(got[m].values[i], expected[m].values[i]) << measure_name(got[m].measure) << " cell " << i;
  }
}

TEST(StreamingComparison, BorrowedFeaturesAreNeverChangedEvenWhenTheyNeedScaling) {
  // 1e200: the layer is scaled by 2^-665 inside; its borrowed memory must stay as it was.
  const int64_t n = 40, p = 6;
  std::vector<double> a = features(n, p, 0, 1e200), b = features(n, p, 1, 1e200);
  const std::vector<double> a_before = a, b_before = b;
  CompareSettings s;
  StreamingComparison streaming({"a"}, {"b"}, s);
  std::vector<Tensor> ta, tb;
  ta.push_back(rows_of(a, p, 0, n));
  tb.push_back(rows_of(b, p, 0, n));
  streaming.add(ta, tb);
  EXPECT_EQ(a, a_before);
  EXPECT_EQ(b, b_before);
  const double value = streaming.result().front().values.front();
  // The same layers at scale 1 give the same CKA.
  std::vector<double> a1 = features(n, p, 0), b1 = features(n, p, 1);
  StreamingComparison plain({"a"}, {"b"}, s);
  std::vector<Tensor> pa, pb;
  pa.push_back(rows_of(a1, p, 0, n));
  pb.push_back(rows_of(b1, p, 0, n));
  plain.add(pa, pb);
  EXPECT_NEAR(value, plain.result().front().values.front(), 1e-12);
}

TEST(StreamingComparison, BadBatchesAreRefusedByName) {
  const int64_t p = 4;
  std::vector<double> x = features(10, p, 0);
  CompareSettings s;  // debiased CKA: at least 4 examples per batch
  StreamingComparison streaming({"a", "b"}, {}, s);
  auto message = [&](std::vector<Tensor> a, std::vector<Tensor> b) {
    try {
      streaming.add(a, b);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  std::vector<Tensor> one;
  one.push_back(rows_of(x, p, 0, 10));
  EXPECT_NE(message(std::move(one), {}).find("expected the features of 2 layers of network A, got 1"), std::string::npos);
  std::vector<Tensor> uneven;
  uneven.push_back(rows_of(x, p, 0, 10));
  uneven.push_back(rows_of(x, p, 0, 8));
  EXPECT_NE(message(std::move(uneven), {}).find("has 8 examples in this batch"), std::string::npos);
  std::vector<Tensor> small;
  small.push_back(rows_of(x, p, 0, 3));
  small.push_back(rows_of(x, p, 0, 3));
  EXPECT_NE(message(std::move(small), {}).find("need at least 4 per batch"), std::string::npos);
  std::vector<Tensor> other, b;
  other.push_back(rows_of(x, p, 0, 5));
  other.push_back(rows_of(x, p, 0, 5));
  b.push_back(rows_of(x, p, 0, 5));
  EXPECT_NE(message(std::move(other), std::move(b)).find("pass no features of network B"), std::string::npos);
  EXPECT_EQ(streaming.batches(), 0);  // nothing refused was counted
  EXPECT_THROW(streaming.result(), Error);
}

}  // namespace
}  // namespace convlab
