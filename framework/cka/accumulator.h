// Minibatch CKA (Nguyen, Raghu and Kornblith 2021): every layer of network A against every
// layer of network B, from features that arrive one batch at a time, so a caller never holds
// the features of all examples.
//
// Per batch of k examples, each layer's Gram (the options' kernel) is centred as the
// estimator needs (U-centred for debiased, HKH for biased) and flattened into one row of
// G (R, k^2), R = L + M (L when A is compared with itself). One GEMM adds the HSIC of every
// pair of rows, G G^T times the estimator's normaliser, to an (R, R) f64 sum. At the end
//   CKA(a, b) = mean HSIC(a, b) / sqrt(mean HSIC(a, a) mean HSIC(b, b)).
// Entry (i, j) of the result is computed from the sum for layer i of A and layer j of B;
// nothing is mirrored, so A and B may be different networks. Batches may differ in size
// (each batch's HSIC counts once). The RBF width is taken per batch, from that batch's
// distances. One batch of all n examples (cka_matrix) gives the same values as cka().
// Memory: G holds R k^2 doubles.
//
// Features on a GPU go to CudaCkaAccumulator (cuda/cuda_accumulator.h), the same computation
// on the device; the two share the last step (layer_pairs.h) and the per-element math.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/cka/features.h"
#include "framework/cka/layer_pairs.h"
#include "framework/cka/options.h"

namespace convlab::cka {

class CkaAccumulator {
 public:
  // Network A against itself: feed add_batch(a); result() is (L, L).
  CkaAccumulator(int64_t layers, Options options);
  // L layers of network A against M layers of network B: feed add_batch(a, b); result() is (L, M).
  CkaAccumulator(int64_t layers_a, int64_t layers_b, Options options);

  // One batch: the features of the same k examples at every layer (a: L views, b: M views,
  // all with k rows). The views' names, if any, label the warnings.
  void add_batch(const std::vector<FeatureView>& a);
  void add_batch(const std::vector<FeatureView>& a, const std::vector<FeatureView>& b);

  // (L, M) row-major: entry i * M + j is CKA of layer i of A with layer j of B. NaN, with a
  // warning on stderr, for a layer whose self-HSIC is zero. Needs at least one batch.
  std::vector<double> result() const;
  // (R, R) row-major mean HSIC over batches; rows and columns are A's layers, then B's.
  std::vector<double> mean_hsic() const;

  int64_t layers_a() const { return pairs_.layers_a(); }
  int64_t layers_b() const { return pairs_.layers_b(); }
  bool self() const { return pairs_.self(); }
  int64_t batches() const { return batches_; }
  int64_t examples() const { return examples_; }
  const Options& options() const { return options_; }

 private:
  void accumulate(const std::vector<const FeatureView*>& layers);

  Options options_;
  LayerPairs pairs_;                 // rows of G, names from the views
  int64_t batches_ = 0;
  int64_t examples_ = 0;
  std::vector<double> hsic_sum_;     // (R, R)
  std::vector<double> grams_;        // (R, k^2): G, reused across batches
  CentredFeatures centred_;          // one layer's centred features, reused
};

// Full batch: one batch of all n examples; the same values as cka() for every pair.
std::vector<double> cka_matrix(const std::vector<FeatureView>& a, const std::vector<FeatureView>& b,
                               const Options& options = {});
std::vector<double> cka_matrix(const std::vector<FeatureView>& a, const Options& options = {});

}  // namespace convlab::cka
