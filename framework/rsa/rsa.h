// Representational similarity analysis between the layers of two networks (or one against
// itself): the Spearman correlation of the layers' RDMs (rdm.h), in [-1, 1], 1 for the same
// geometry. Invariant to any per-example affine map x_i -> a_i x_i + b_i (a_i > 0) and to
// permuting features, since a Pearson correlation between examples ignores both.
//
// Minibatch estimator: the RDMs are k x k per batch of k examples, as CKA's Grams are; the
// value of a pair of layers is the mean of its per-batch Spearman correlations, each batch
// weighted by its k (stats::BatchTerms). One batch of all n examples is the classical
// full-RDM RSA; with batches, pairs of examples in different batches are never compared, so
// the value is that of RDMs of k examples (close to, but not the same as, the full one).
// Per batch, for R = L + M layers: R Grams of row-centred features (k^2 p multiply-adds each),
// R sorts of k (k - 1) / 2 distances and one GEMM of the (R, k (k - 1) / 2) centred ranks.
#pragma once

#include <cstdint>
#include <vector>

#include "framework/cka/features.h"
#include "framework/cka/layer_pairs.h"
#include "framework/rsa/rdm.h"
#include "framework/stats/batch_terms.h"

namespace convlab::rsa {

// Full batch: RSA of two layers' features over the same n >= 3 examples.
double rsa(const cka::FeatureView& x, const cka::FeatureView& y);

// The smallest batch RSA takes.
inline constexpr int64_t kMinExamples = 3;

class RsaAccumulator {
 public:
  // layers_b 0: network A against itself, result (L, L); else (L, M).
  RsaAccumulator(int64_t layers_a, int64_t layers_b);

  void add_batch(const std::vector<cka::FeatureView>& a);
  void add_batch(const std::vector<cka::FeatureView>& a, const std::vector<cka::FeatureView>& b);

  // (L, M) row-major weighted mean over batches of the per-batch Spearman correlations. NaN
  // for a layer whose RDM is constant (a warning said which).
  std::vector<double> result() const { return terms_.weighted_mean(); }
  // The per-batch (L, M) correlations, for a bootstrap over batches.
  const stats::BatchTerms& terms() const { return terms_; }
  const cka::LayerPairs& pairs() const { return pairs_; }
  int64_t batches() const { return terms_.batches(); }
  int64_t examples() const { return examples_; }
  void release_workspace();

 private:
  void accumulate(const std::vector<const cka::FeatureView*>& layers);

  cka::LayerPairs pairs_;
  stats::BatchTerms terms_;
  int64_t examples_ = 0;
  std::vector<bool> warned_examples_, warned_constant_;  // (R): a layer already named in that warning
  std::vector<double> ranks_;    // Z (R, k (k - 1) / 2), reused across batches
  RankWorkspace workspace_;
};

}  // namespace convlab::rsa
