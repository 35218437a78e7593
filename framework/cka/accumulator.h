// Minibatch CKA (Nguyen, Raghu and Kornblith 2021): every layer of network A against every
// layer of network B, from features that arrive one batch at a time, so a caller never holds
// the features of all examples.
//
// Per batch of k examples, each layer's linear Gram (of its column-centred features) is
// computed once; every kernel asked for is derived from it (RBF: from the distances that the
// linear Gram holds), centred as the estimator needs (U-centred for debiased, HKH for biased)
// and flattened into one row of that kernel's G (R, k^2), R = L + M (L when A is compared
// with itself). One GEMM per kernel gives the batch's HSIC of every pair of rows, G G^T times
// the estimator's normaliser: the batch's (R, R) terms (stats::BatchTerms), weighted by the
// batch's k. At the end
//   CKA(a, b) = mean_w HSIC(a, b) / sqrt(mean_w HSIC(a, a) mean_w HSIC(b, b)),
// mean_w the mean over batches weighted by their sizes, so that a short last batch counts for
// its examples, not as much as a full one (a caller may also drop it: analysis/compare.h).
// Entry (i, j) of the result is computed from the terms of layer i of A and layer j of B;
// nothing is mirrored, so A and B may be different networks. The RBF width is taken per batch,
// from that batch's distances. One batch of all n examples (cka_matrix) gives the same values
// as cka(). Memory: one G of R k^2 doubles per kernel.
//
// Features on a GPU go to CudaCkaAccumulator (cuda/cuda_accumulator.h), the same computation
// on the device; the two share the last step (layer_pairs.h) and the per-element math.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "framework/cka/features.h"
#include "framework/cka/layer_pairs.h"
#include "framework/cka/options.h"
#include "framework/stats/batch_terms.h"

namespace convlab::cka {

class CkaAccumulator {
 public:
  // Network A against itself: feed add_batch(a); result() is (L, L).
  CkaAccumulator(int64_t layers, Options options);
  // L layers of network A against M layers of network B: feed add_batch(a, b); result() is (L, M).
  CkaAccumulator(int64_t layers_a, int64_t layers_b, Options options);
  // Several kernels at once, each layer's linear Gram computed once per batch for all of them.
  // layers_b 0: A against itself.
  CkaAccumulator(int64_t layers_a, int64_t layers_b, std::vector<Kernel> kernels, Estimator estimator);

  // One batch: the features of the same k examples at every layer (a: L views, b: M views,
  // all with k rows). The views' names, if any, label the warnings.
  void add_batch(const std::vector<FeatureView>& a);
  void add_batch(const std::vector<FeatureView>& a, const std::vector<FeatureView>& b);

  // (L, M) row-major: entry i * M + j is CKA of layer i of A with layer j of B under kernel
  // number `kernel`. NaN, with a warning on stderr, for a layer whose self-HSIC is zero. Needs
  // at least one batch.
  std::vector<double> result(size_t kernel = 0) const;
  // (R, R) row-major weighted mean HSIC over batches; rows and columns are A's layers, then B's.
  std::vector<double> mean_hsic(size_t kernel = 0) const;
  // The per-batch (R, R) HSIC terms of a kernel, for a bootstrap over batches.
  const stats::BatchTerms& terms(size_t kernel = 0) const { return terms_[kernel]; }
  const LayerPairs& pairs() const { return pairs_; }

  int64_t layers_a() const { return pairs_.layers_a(); }
  int64_t layers_b() const { return pairs_.layers_b(); }
  bool self() const { return pairs_.self(); }
  int64_t batches() const { return terms_.front().batches(); }
  int64_t examples() const { return examples_; }
  const std::vector<Kernel>& kernels() const { return kernels_; }
  Estimator estimator() const { return estimator_; }
  Options options(size_t kernel = 0) const { return {kernels_[kernel], estimator_}; }
  // Linear Grams computed so far: one per layer and batch, whatever the number of kernels.
  int64_t linear_grams() const { return linear_grams_; }
  // Frees the per-batch buffers (they are rebuilt by the next batch): for callers that keep
  // many accumulators, one per checkpoint of a run.
  void release_workspace();

 private:
  void accumulate(const std::vector<const FeatureView*>& layers);

  std::vector<Kernel> kernels_;
  Estimator estimator_;
  LayerPairs pairs_;
  int64_t examples_ = 0;
  int64_t linear_grams_ = 0;
  std::vector<stats::BatchTerms> terms_;   // per kernel: (R, R) per batch
  std::vector<std::vector<double>> grams_;  // per kernel: G (R, k^2), reused across batches
  std::vector<double> linear_;              // (k, k): one layer's linear Gram
  CentredFeatures centred_;                 // one layer's centred features, reused
};

// Full batch: one batch of all n examples; the same values as cka() for every pair.
std::vector<double> cka_matrix(const std::vector<FeatureView>& a, const std::vector<FeatureView>& b,
                               const Options& options = {});
std::vector<double> cka_matrix(const std::vector<FeatureView>& a, const Options& options = {});

}  // namespace convlab::cka
