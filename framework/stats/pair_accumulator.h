// The minibatch skeleton of the measures that are computed per batch from something each
// layer yields on its own (its nearest neighbours, its principal subspace, its ridge fit) and
// then a number per pair of layers: mutual k-NN, CKNNA, SVCCA, PWCCA and linear predictivity.
// Per batch it prepares every layer once, fills the (L, M) matrix of pair values (symmetric
// measures compute a pair of one network once and mirror it; asymmetric ones compute both
// orders) and keeps them as stats::BatchTerms, so the estimate is the weighted mean over
// batches and a bootstrap re-weights the batches, as for RSA and Procrustes.
//
// A measure may keep more per-batch numbers than the (L, M) pair values (CKNNA: its self
// terms), appended after them; value() turns mean terms into the matrix.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "framework/cka/features.h"
#include "framework/cka/layer_pairs.h"
#include "framework/linalg/batch_grams.h"
#include "framework/linalg/layer_grams.h"
#include "framework/linalg/pair_products.h"
#include "framework/stats/batch_terms.h"

namespace convlab::stats {

class PairAccumulator {
 public:
  virtual ~PairAccumulator() = default;

  void add_batch(const std::vector<cka::FeatureView>& a);
  void add_batch(const std::vector<cka::FeatureView>& a, const std::vector<cka::FeatureView>& b);
  // The same from layers that compute their own Grams (a GPU's: linalg::DeviceLayerGrams),
  // in the pairs' row order: A's layers, then B's (none when A is compared with itself).
  void add_layers(const std::vector<linalg::LayerGrams*>& rows);

  const stats::BatchTerms& terms() const { return terms_; }
  const cka::LayerPairs& pairs() const { return pairs_; }
  int64_t batches() const { return terms_.batches(); }
  int64_t examples() const { return examples_; }
  // (L, M) row-major from mean terms (by default the pair values are the terms).
  virtual std::vector<double> value(const std::vector<double>& mean_terms) const;
  std::vector<double> result() const { return value(terms_.weighted_mean()); }
  // Grams and spectra of host features shared with the other measures of the same comparison
  // (each batch's computed once for all of them); without, each measure computes its own.
  // `grams_b`, if given, holds those of network B's layers instead, shared also with other
  // comparisons against the same B (compare_against: B's features stay the same through a
  // batch while A's change).
  void share_grams(std::shared_ptr<linalg::BatchGrams> grams, std::shared_ptr<linalg::BatchGrams> grams_b = nullptr) {
    grams_ = std::move(grams);
    grams_b_ = std::move(grams_b);
  }
  // Where the per-pair products of SVCCA, PWCCA and ridge run (pair_products.h): the CPU's
  // BLAS unless told otherwise (a GPU's, for layers whose Grams a GPU computed).
  void use_pair_products(std::unique_ptr<linalg::PairProducts> products) { products_ = std::move(products); }
  const char* pair_products_where() const { return products_->where(); }

  // A permutation test (permutation_test.h): every batch also computes `count` matrices with
  // B's examples permuted within the batch (batch_permutation(seed, batch, p, k)).
  void set_permutations(int64_t count, uint64_t seed);
  int64_t permutations() const { return static_cast<int64_t>(null_terms_.size()); }
  // The matrix of each permutation, (permutations, L * M), from its terms' weighted means.
  std::vector<std::vector<double>> null_values() const;

 protected:
  // `name` ("SVCCA") for messages; a batch needs `min_examples` to `max_examples` rows.
  PairAccumulator(int64_t layers_a, int64_t layers_b, bool symmetric, int64_t extra_terms, std::string name,
                  int64_t min_examples, int64_t max_examples);

  // Row r of the pairs (LayerPairs order: A's layers, then B's) for this batch, from what the
  // layer yields (its Grams, spectrum and copies: linalg::LayerGrams).
  virtual void prepare(int64_t row, linalg::LayerGrams& x) = 0;
  // The value of A's row `row_a` against B's row `row_b`, once both are prepared. Called from
  // several threads when parallel_pairs() is true.
  virtual double pair_value(int64_t row_a, int64_t row_b) const = 0;
  // The extra per-batch terms, after every row is prepared.
  virtual void extra_terms(double* out) const {}
  // Whether pair_value may run on several threads at once: then it must not throw. False
  // where it calls BLAS, which has its own threads.
  virtual bool parallel_pairs() const { return true; }
  // Forget a batch's prepared rows (memory).
  virtual void clear() {}
  // For the permutation test: B's prepared rows with the batch's examples reordered, row i of
  // the permuted layer being example perm[i] (inverse: its inverse), kept beside the
  // unpermuted ones; then permuted_pair_value reads A's row as prepared and B's permuted.
  // Called after every row is prepared, once per permutation.
  virtual void permute(const std::vector<int32_t>& perm, const std::vector<int32_t>& inverse) = 0;
  virtual double permuted_pair_value(int64_t row_a, int64_t row_b) const = 0;
  // The rows that hold network B's layers (every row for a network against itself).
  bool is_b_row(int64_t row) const { return pairs_.self() || row >= pairs_.layers_a(); }

  const std::string& name() const { return name_; }
  linalg::PairProducts& products() const { return *products_; }
  int64_t layers_a() const { return pairs_.layers_a(); }
  int64_t layers_b() const { return pairs_.layers_b(); }

 private:
  void accumulate(const std::vector<linalg::LayerGrams*>& layers);
  void add_host_batch(const std::vector<const cka::FeatureView*>& views);

  cka::LayerPairs pairs_;
  bool symmetric_;
  int64_t extra_;
  std::string name_;
  int64_t min_examples_, max_examples_;
  stats::BatchTerms terms_;
  int64_t examples_ = 0;
  std::shared_ptr<linalg::BatchGrams> grams_ = std::make_shared<linalg::BatchGrams>();
  std::shared_ptr<linalg::BatchGrams> grams_b_;  // null: B's layers in grams_
  std::unique_ptr<linalg::PairProducts> products_ = std::make_unique<linalg::HostPairProducts>();
  uint64_t permutation_seed_ = 0;
  std::vector<stats::BatchTerms> null_terms_;  // (permutations)
};

}  // namespace convlab::stats
