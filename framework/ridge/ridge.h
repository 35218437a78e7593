// Linear predictivity: how well a ridge regression from layer X (n, p1) predicts layer Y
// (n, p2) on examples it was not fitted to, as R^2. Asymmetric: row A's layer predicts column
// B's layer.
//
// Both layers are centred over the n examples of a batch. The ridge fit Y^ = K (K + r I)^-1 Y
// with K = X X^T (every output at once, one penalty) is scored by leave-one-out: each example
// is predicted by the fit to the other n - 1, which for ridge has a closed form (Allen 1974):
// with M = I - K (K + r I)^-1, the held-out residual of example i is (M Y)_i / M_ii. So
//   R^2 = 1 - sum_i (M L M)_ii / M_ii^2 / tr(L),   L = Y Y^T,
// all from n x n matrices: M from the eigendecomposition of K (eigenvalue r / (lambda + r)),
// whatever the layers' widths. In-sample R^2 would be 1 for every layer wider than the batch;
// held-out R^2 is what predictivity benchmarks report (cross-validated), here with the
// cheapest exact cross-validation. It is at most 1 and may be negative (worse than predicting
// the mean). The penalty is r = ridge * tr(K) / n, a multiple of K's mean eigenvalue, so the
// value does not depend on the layers' scales (--ridge, default 0.1).
//
// Centring on the whole batch (the held-out example included) and no intercept in the fit: a
// simplification of a fully held-out fit, at most a few hundredths of R^2 in batches of 100
// and less in larger ones (docs/measures.md).
//
// Minibatch estimator: the per-batch R^2 of each pair, averaged over batches weighted by
// batch size. Cost per batch: per source layer an eigendecomposition and M (k^3); per pair
// one k x k product (k^3).
#pragma once

#include <cstdint>
#include <vector>

#include "framework/cka/features.h"
#include "framework/linalg/centred_spectrum.h"
#include "framework/stats/pair_accumulator.h"

namespace convlab::ridge {

inline constexpr double kDefaultPenalty = 0.1;
inline constexpr int64_t kMinExamples = 3;
inline constexpr int64_t kMaxExamples = 20000;  // as Procrustes: k x k eigendecompositions

// A source layer's residual operator M (n, n); constant: the layer predicts nothing (M = I).
struct Predictor {
  int64_t n = 0;
  std::vector<double> residual;  // (n, n) symmetric
};
Predictor predictor(const cka::FeatureView& x, double ridge);
Predictor predictor_of_gram(std::vector<double> centred_gram, int64_t n, double ridge);
Predictor predictor_of_spectrum(const linalg::CentredSpectrum& spectrum, double ridge);

// A target layer's centred Gram L / tr(L) (n, n); constant: nothing to predict.
struct Target {
  int64_t n = 0;
  std::vector<double> gram;
  bool constant = false;
};
Target target(const cka::FeatureView& y);
Target target_of_gram(std::vector<double> centred_gram, int64_t n);

// Leave-one-out R^2; NaN for a constant target.
double predictivity(const Predictor& x, const Target& y);
double predictivity(const cka::FeatureView& x, const cka::FeatureView& y, double ridge = kDefaultPenalty);

class RidgeAccumulator final : public stats::PairAccumulator {
 public:
  RidgeAccumulator(int64_t layers_a, int64_t layers_b, double ridge);

 private:
  void prepare(int64_t row, linalg::LayerGrams& x) override;
  double pair_value(int64_t row_a, int64_t row_b) const override;
  bool parallel_pairs() const override { return false; }  // BLAS threads itself
  void clear() override {
    diagonals_.clear();
    constant_targets_.clear();
  }
  void permute(const std::vector<int32_t>& perm, const std::vector<int32_t>& inverse) override;
  double permuted_pair_value(int64_t row_a, int64_t row_b) const override;
  // A pair's value from its matrices in products() (B's permuted target when `permuted_b`).
  double value(int64_t row_a, int64_t row_b, bool permuted_b) const;

  double ridge_;
  // This batch's: the matrices themselves are in products().
  std::vector<std::vector<double>> diagonals_;  // A's rows: the residual operator's diagonal
  std::vector<bool> constant_targets_;          // B's rows (all rows for a network against itself)
};

}  // namespace convlab::ridge
