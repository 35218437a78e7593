#include "framework/cka/accumulator.h"

#include <cblas.h>
#include <fmt/format.h>

#include "framework/cka/centring.h"
#include "framework/cka/gram.h"
#include "framework/cka/warning.h"
#include "framework/core/error.h"
#include "kernels/gram.h"

namespace convlab::cka {

CkaAccumulator::CkaAccumulator(int64_t layers, Options options)
    : options_(options), self_(true), layers_a_(layers) {
  CONVLAB_CHECK(layers > 0, "CKA needs at least one layer, got {}", layers);
  hsic_sum_.assign(static_cast<size_t>(rows() * rows()), 0.0);
  names_.resize(static_cast<size_t>(rows()));
}

CkaAccumulator::CkaAccumulator(int64_t layers_a, int64_t layers_b, Options options)
    : options_(options), self_(false), layers_a_(layers_a), layers_b_(layers_b) {
  CONVLAB_CHECK(layers_a > 0 && layers_b > 0, "CKA needs at least one layer per network, got {} and {}", layers_a,
                layers_b);
  hsic_sum_.assign(static_cast<size_t>(rows() * rows()), 0.0);
  names_.resize(static_cast<size_t>(rows()));
}

void CkaAccumulator::add_batch(const std::vector<FeatureView>& a) {
  CONVLAB_CHECK(self_, "this CKA accumulator compares two networks: pass the features of both to add_batch(a, b)");
  CONVLAB_CHECK(static_cast<int64_t>(a.size()) == layers_a_, "expected features of {} layers, got {}", layers_a_,
                a.size());
  std::vector<const FeatureView*> layers;
  for (const FeatureView& v : a) layers.push_back(&v);
  accumulate(layers);
}

void CkaAccumulator::add_batch(const std::vector<FeatureView>& a, const std::vector<FeatureView>& b) {
  CONVLAB_CHECK(!self_, "this CKA accumulator compares one network with itself: pass its features to add_batch(a)");
  CONVLAB_CHECK(static_cast<int64_t>(a.size()) == layers_a_, "expected features of {} layers of network A, got {}",
                layers_a_, a.size());
  CONVLAB_CHECK(static_cast<int64_t>(b.size()) == layers_b_, "expected features of {} layers of network B, got {}",
                layers_b_, b.size());
  std::vector<const FeatureView*> layers;
  for (const FeatureView& v : a) layers.push_back(&v);
  for (const FeatureView& v : b) layers.push_back(&v);
  accumulate(layers);
}

void CkaAccumulator::accumulate(const std::vector<const FeatureView*>& layers) {
  const int64_t r = rows();
  const int64_t k = layers[0]->rows();
  for (int64_t i = 0; i < r; ++i) {
    const FeatureView& v = *layers[static_cast<size_t>(i)];
    CONVLAB_CHECK(v.rows() == k, "every layer of a batch holds the same examples: {} has {} rows, {} has {}",
                  layers[0]->label(), k, v.label(), v.rows());
  }
  check_examples(options_.estimator, k);
  const int64_t kk = k * k;
  grams_.resize(static_cast<size_t>(r * kk));  // G (R, k^2)
  for (int64_t i = 0; i < r; ++i) {
    const FeatureView& v = *layers[static_cast<size_t>(i)];
    if (!v.name().empty()) names_[static_cast<size_t>(i)] = v.name();
    double* row = grams_.data() + i * kk;  // this layer's (k, k) Gram, in place in G
    gram_into(v, options_.kernel, row, centred_);
    centre_for(options_.estimator, row, k);  // a constant layer's row becomes exactly zero
  }
  const double scale = options_.estimator == Estimator::debiased ? kernels::debiased_hsic_from_product(1.0, k)
                                                                 : kernels::biased_hsic_from_product(1.0, k);
  // hsic_sum (R, R) += scale G G^T: the HSIC of every pair of layers in this batch. A full
  // GEMM, not a SYRK, so that each entry is its own pair's inner product.
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r, r, kk, scale, grams_.data(), kk, grams_.data(), kk, 1.0,
              hsic_sum_.data(), r);
  ++batches_;
  examples_ += k;
}

std::vector<double> CkaAccumulator::mean_hsic() const {
  CONVLAB_CHECK(batches_ > 0, "no batches added: CKA needs the features of at least one batch");
  std::vector<double> mean(hsic_sum_);
  for (double& m : mean) m /= static_cast<double>(batches_);
  return mean;
}

std::string CkaAccumulator::label(int64_t row) const {
  const std::string& name = names_[static_cast<size_t>(row)];
  if (self_) return name.empty() ? fmt::format("layer {}", row) : layer_label(name);
  const bool in_a = row < layers_a_;
  const int64_t index = in_a ? row : row - layers_a_;
  return fmt::format("{} of network {}", name.empty() ? fmt::format("layer {}", index) : layer_label(name),
                     in_a ? "A" : "B");
}

std::vector<double> CkaAccumulator::result() const {
  const std::vector<double> mean = mean_hsic();  // (R, R)
  const int64_t r = rows(), la = layers_a(), lb = layers_b();
  const int64_t b0 = self_ ? 0 : layers_a_;  // row of B's first layer in G
  for (int64_t i = 0; i < r; ++i)
    if (!(mean[i * r + i] > 0.0)) warn_constant_layer(label(i));
  std::vector<double> out(static_cast<size_t>(la * lb));  // (L, M)
  for (int64_t i = 0; i < la; ++i)
    for (int64_t j = 0; j < lb; ++j) {
      const int64_t row_b = b0 + j;
      out[i * lb + j] = kernels::cka_from_hsic(mean[i * r + row_b], mean[i * r + i], mean[row_b * r + row_b]);
    }
  return out;
}

std::vector<double> cka_matrix(const std::vector<FeatureView>& a, const std::vector<FeatureView>& b,
                               const Options& options) {
  CkaAccumulator acc(static_cast<int64_t>(a.size()), static_cast<int64_t>(b.size()), options);
  acc.add_batch(a, b);
  return acc.result();
}

std::vector<double> cka_matrix(const std::vector<FeatureView>& a, const Options& options) {
  CkaAccumulator acc(static_cast<int64_t>(a.size()), options);
  acc.add_batch(a);
  return acc.result();
}

}  // namespace convlab::cka
