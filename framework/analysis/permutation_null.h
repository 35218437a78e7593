// The null distributions of CKA (every kernel), RSA and the Procrustes distance for a
// permutation test (stats/permutation_test.h), computed on the host in float64 from each
// batch's features. (The five float64 measures compute theirs in their own accumulators,
// stats::PairAccumulator::set_permutations.)
//
// What each permutation costs, per batch of k examples, L layers of A and M of B, P
// permutations:
// - CKA: each layer's centred k x k Gram once (shared with the other measures), then per
//   permutation and layer of B one gather of its Gram (k^2) and L inner products (L k^2): the
//   HSIC of A with a permuted B is <K~, P L~ P^T>, since both centrings commute with
//   permutations. P M (L + 1) k^2 in all; the self terms do not change.
// - RSA: per permutation and layer of B one gather of its centred RDM ranks (k^2 / 2) and L
//   inner products: the ranks of a permuted layer's distances are its ranks permuted.
// - Procrustes: per permutation and pair the nuclear norm of F_A^T P F_B (k r1 r2 and an
//   eigendecomposition of min(r1, r2)): as expensive as the estimate, P times over.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "framework/analysis/compare.h"
#include "framework/analysis/measure_run.h"
#include "framework/cka/features.h"
#include "framework/linalg/batch_grams.h"
#include "framework/linalg/layer_grams.h"
#include "framework/stats/batch_terms.h"

namespace convlab::analysis_detail {

class HostNull {
 public:
  // measure: cka, rsa or procrustes.
  HostNull(Measure measure, const LayerNames& names, const CompareSettings& settings,
           std::shared_ptr<linalg::BatchGrams> grams = nullptr, std::shared_ptr<linalg::BatchGrams> grams_b = nullptr);
  // One batch's features of A (and of B; empty: A against itself), on the host.
  void add_batch(const std::vector<cka::FeatureView>& a, const std::vector<cka::FeatureView>& b);
  // CKA's null reads only the layers' Grams: one batch's layers in the pairs' row order (A's,
  // then B's), wherever their Grams are computed (a GPU's: linalg::DeviceLayerGrams).
  void add_layers(const std::vector<linalg::LayerGrams*>& rows);
  // The (L, M) matrix of every permutation, for output o (CKA: kernel o).
  std::vector<std::vector<double>> null_values(size_t output) const;

 private:
  void add_cka(const std::vector<linalg::LayerGrams*>& rows, int64_t k);
  void add_rsa(const std::vector<const cka::FeatureView*>& rows, int64_t k);
  void add_procrustes(const std::vector<const cka::FeatureView*>& rows, int64_t k);

  Measure measure_;
  LayerNames names_;
  CompareSettings settings_;
  std::shared_ptr<linalg::BatchGrams> grams_;
  std::shared_ptr<linalg::BatchGrams> grams_b_;  // B's layers' (stats::PairAccumulator::share_grams); null: in grams_
  int64_t la_ = 0, lb_ = 0, rows_ = 0, batches_ = 0;
  // [output][permutation]: per batch the (L, M) pair terms, then for CKA the R self terms.
  std::vector<std::vector<stats::BatchTerms>> terms_;
};

}  // namespace convlab::analysis_detail
