#include "framework/cka/accumulator.h"

#include <cblas.h>

#include "framework/cka/centring.h"
#include "framework/cka/gram.h"
#include "framework/core/error.h"
#include "kernels/gram.h"

namespace convlab::cka {

CkaAccumulator::CkaAccumulator(int64_t layers, Options options) : options_(options), pairs_(layers) {
  hsic_sum_.assign(static_cast<size_t>(pairs_.rows() * pairs_.rows()), 0.0);
}

CkaAccumulator::CkaAccumulator(int64_t layers_a, int64_t layers_b, Options options)
    : options_(options), pairs_(layers_a, layers_b) {
  hsic_sum_.assign(static_cast<size_t>(pairs_.rows() * pairs_.rows()), 0.0);
}

void CkaAccumulator::add_batch(const std::vector<FeatureView>& a) {
  CONVLAB_CHECK(self(), "this CKA accumulator compares two networks: pass the features of both to add_batch(a, b)");
  CONVLAB_CHECK(static_cast<int64_t>(a.size()) == layers_a(), "expected features of {} layers, got {}", layers_a(),
                a.size());
  std::vector<const FeatureView*> layers;
  for (const FeatureView& v : a) layers.push_back(&v);
  accumulate(layers);
}

void CkaAccumulator::add_batch(const std::vector<FeatureView>& a, const std::vector<FeatureView>& b) {
  CONVLAB_CHECK(!self(), "this CKA accumulator compares one network with itself: pass its features to add_batch(a)");
  CONVLAB_CHECK(static_cast<int64_t>(a.size()) == layers_a(), "expected features of {} layers of network A, got {}",
                layers_a(), a.size());
  CONVLAB_CHECK(static_cast<int64_t>(b.size()) == layers_b(), "expected features of {} layers of network B, got {}",
                layers_b(), b.size());
  std::vector<const FeatureView*> layers;
  for (const FeatureView& v : a) layers.push_back(&v);
  for (const FeatureView& v : b) layers.push_back(&v);
  accumulate(layers);
}

void CkaAccumulator::accumulate(const std::vector<const FeatureView*>& layers) {
  const int64_t r = pairs_.rows();
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
    pairs_.set_name(i, v.name());
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

std::vector<double> CkaAccumulator::mean_hsic() const { return mean_over_batches(hsic_sum_, batches_); }

std::vector<double> CkaAccumulator::result() const { return pairs_.cka(mean_hsic()); }

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
