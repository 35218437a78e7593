#include "framework/cka/accumulator.h"

#include <cblas.h>

#include <algorithm>

#include "framework/cka/centring.h"
#include "framework/cka/gram.h"
#include "framework/core/error.h"
#include "kernels/gram.h"

namespace convlab::cka {

CkaAccumulator::CkaAccumulator(int64_t layers, Options options)
    : CkaAccumulator(layers, 0, {options.kernel}, options.estimator) {}

CkaAccumulator::CkaAccumulator(int64_t layers_a, int64_t layers_b, Options options)
    : CkaAccumulator(layers_a, layers_b, {options.kernel}, options.estimator) {
  CONVLAB_CHECK(layers_b > 0, "CKA needs at least one layer per network, got {} and {}", layers_a, layers_b);
}

CkaAccumulator::CkaAccumulator(int64_t layers_a, int64_t layers_b, std::vector<Kernel> kernels, Estimator estimator)
    : kernels_(std::move(kernels)), estimator_(estimator), pairs_(LayerPairs::of(layers_a, layers_b)) {
  CONVLAB_CHECK(!kernels_.empty(), "a CKA accumulator needs at least one kernel");
  const int64_t r = pairs_.rows();
  terms_.assign(kernels_.size(), stats::BatchTerms(r * r));
  grams_.resize(kernels_.size());
}

void CkaAccumulator::add_batch(const std::vector<FeatureView>& a) { accumulate(pairs_.batch_rows(a, "CKA")); }

void CkaAccumulator::add_batch(const std::vector<FeatureView>& a, const std::vector<FeatureView>& b) {
  accumulate(pairs_.batch_rows(a, b, "CKA"));
}

void CkaAccumulator::accumulate(const std::vector<const FeatureView*>& layers) {
  const int64_t r = pairs_.rows();
  const int64_t k = layers[0]->rows();
  for (int64_t i = 0; i < r; ++i) {
    const FeatureView& v = *layers[static_cast<size_t>(i)];
    CONVLAB_CHECK(v.rows() == k, "every layer of a batch holds the same examples: {} has {} rows, {} has {}",
                  layers[0]->label(), k, v.label(), v.rows());
  }
  check_examples(estimator_, k);
  const int64_t kk = k * k;
  for (auto& g : grams_) g.resize(static_cast<size_t>(r * kk));  // G (R, k^2) per kernel
  linear_.resize(static_cast<size_t>(kk));
  for (int64_t i = 0; i < r; ++i) {
    const FeatureView& v = *layers[static_cast<size_t>(i)];
    pairs_.set_name(i, v.name());
    centre_columns(v, centred_);
    linear_gram(centred_, linear_.data());  // once for all kernels
    ++linear_grams_;
    for (size_t s = 0; s < kernels_.size(); ++s) {
      double* row = grams_[s].data() + i * kk;  // this layer's (k, k) Gram, in place in G
      std::copy(linear_.begin(), linear_.end(), row);
      // Centred for the estimator; a constant layer's row becomes exactly zero.
      if (kernels_[s].kind == KernelKind::rbf)
        centred_rbf_gram(row, k, kernels_[s].rbf_frac, estimator_, pairs_.label(i));
      else
        centre_for(estimator_, row, k);
    }
  }
  const double scale = estimator_ == Estimator::debiased ? kernels::debiased_hsic_from_product(1.0, k)
                                                         : kernels::biased_hsic_from_product(1.0, k);
  std::vector<double> hsic(static_cast<size_t>(r * r));  // (R, R): this batch's terms
  for (size_t s = 0; s < kernels_.size(); ++s) {
    // hsic = scale G G^T: the HSIC of every pair of layers in this batch. A full GEMM, not a
    // SYRK, so that each entry is its own pair's inner product.
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r, r, kk, scale, grams_[s].data(), kk, grams_[s].data(), kk,
                0.0, hsic.data(), r);
    terms_[s].add(hsic, static_cast<double>(k));
  }
  examples_ += k;
}

void CkaAccumulator::release_workspace() {
  for (auto& g : grams_) std::vector<double>().swap(g);
  std::vector<double>().swap(linear_);
  centred_ = CentredFeatures();
}

std::vector<double> CkaAccumulator::mean_hsic(size_t kernel) const { return terms_[kernel].weighted_mean(); }

std::vector<double> CkaAccumulator::result(size_t kernel) const { return pairs_.cka(mean_hsic(kernel)); }

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
