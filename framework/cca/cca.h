// SVCCA (Raghu et al. 2017) and PWCCA (Morcos et al. 2018) between two layers' features X
// (n, p1) and Y (n, p2) of the same examples.
//
// Reduction (both): centre each feature over the examples, then keep the fewest principal
// directions whose variance reaches `variance` (default 0.99) of the total, or a fixed number
// `dims`. It runs through the n x n Gram (linalg::CentredSpectrum), so a layer wider than the
// batch costs n^2 p, not p^2 n: the kept directions are U_d, the leading eigenvectors of the
// centred Gram, and the reduced layer is X' = U_d diag(s_d), its principal-component scores.
//
// CCA of X' and Y': since U_dx and U_dy are orthonormal bases of the two reduced spans, the
// canonical correlations rho_1 >= ... >= rho_m (m = min(dx, dy)) are the singular values of
// C = U_dx^T U_dy; the canonical variates of X' are h_i = U_dx P_i, P_i the left singular
// vectors of C.
// - SVCCA = the mean of rho_1 .. rho_m (Google's svcca code: np.mean of the coefficients).
// - PWCCA = sum_i alpha_i rho_i with alpha_i proportional to sum_j |<h_i, x'_j>| over the
//   reduced layer's centred units x'_j = s_j u_j, so alpha_i ~ sum_j s_j |P_ji| (normalised to
//   sum to 1). Weighted by A's side always, so PWCCA(A, B) != PWCCA(B, A): asymmetric.
//
// SVCCA is invariant to invertible linear maps of either layer when nothing is cut (variance 1
// keeps every direction), and to orthogonal maps and isotropic scaling always. So is PWCCA,
// except where canonical correlations repeat (several exactly 1: dx + dy >= n - 1, or one kept
// span inside the other): the variates of a repeated correlation are any basis of its space,
// and their weights depend on which one the eigensolver returns. CCA is
// degenerate when dx + dy approaches n: every correlation tends to 1, so the batch must be
// well above the kept dimensions (docs/measures.md).
//
// Minibatch estimator: per batch of k examples the value of each pair; the mean over batches
// weighted by k. Cost per batch: one eigendecomposition of k x k per layer; per pair
// k dx dy + dx^3.
#pragma once

#include <cstdint>
#include <vector>

#include "framework/cka/features.h"
#include "framework/linalg/centred_spectrum.h"
#include "framework/stats/pair_accumulator.h"

namespace convlab::cca {

inline constexpr double kDefaultVariance = 0.99;
// A batch needs 3 examples (2 centred examples span one direction: every correlation is 1) and
// at most as many as an eigendecomposition of k x k takes (procrustes::kMaxExamples, the same
// limit for the same reason).
inline constexpr int64_t kMinExamples = 3;
inline constexpr int64_t kMaxExamples = 20000;

struct Reduction {
  double variance = kDefaultVariance;  // in (0, 1]: keep the fewest directions that reach it
  int64_t dims = 0;                    // > 0: keep this many instead (at most the layer's rank)
};

// A layer after the reduction.
struct Subspace {
  int64_t n = 0, d = 0;
  std::vector<double> basis;  // (n, d) row-major: U_d, orthonormal columns
  std::vector<double> scale;  // (d): s_j = sqrt(lambda_j) of the unit-trace Gram, descending
  bool constant = false;      // no variance at all: nothing to correlate
};

Subspace reduce(const linalg::CentredSpectrum& spectrum, const Reduction& reduction);
Subspace subspace(const cka::FeatureView& x, const Reduction& reduction);

struct Correlations {
  std::vector<double> rho;         // (m) descending
  std::vector<double> directions;  // (dx, m) row-major: P, when asked for
};
Correlations canonical_correlations(const Subspace& a, const Subspace& b, bool directions);

// NaN when either layer is constant.
double svcca(const Subspace& a, const Subspace& b);
double pwcca(const Subspace& a, const Subspace& b);
// The PWCCA weights alpha (m), summing to 1, of A's canonical variates.
std::vector<double> pwcca_weights(const Subspace& a, const Correlations& c);

double svcca(const cka::FeatureView& x, const cka::FeatureView& y, const Reduction& reduction = {});
double pwcca(const cka::FeatureView& x, const cka::FeatureView& y, const Reduction& reduction = {});

enum class CcaMeasure { svcca, pwcca };

class CcaAccumulator final : public stats::PairAccumulator {
 public:
  CcaAccumulator(CcaMeasure measure, int64_t layers_a, int64_t layers_b, const Reduction& reduction);
  // The dimensions each row kept in the first batch (A's, then B's).
  const std::vector<int64_t>& dims() const { return dims_; }

 private:
  void prepare(int64_t row, linalg::LayerGrams& x) override;
  double pair_value(int64_t row_a, int64_t row_b) const override;
  bool parallel_pairs() const override { return false; }  // BLAS and LAPACK thread themselves
  void clear() override { rows_.clear(); }
  void permute(const std::vector<int32_t>& perm, const std::vector<int32_t>& inverse) override;
  double permuted_pair_value(int64_t row_a, int64_t row_b) const override;
  // A pair's value from its bases in products() (B's permuted copy when `permuted_b`).
  double value(int64_t row_a, int64_t row_b, bool permuted_b) const;

  CcaMeasure measure_;
  Reduction reduction_;
  std::vector<Subspace> rows_;  // this batch's, their bases moved to products()
  std::vector<int64_t> dims_;
};

}  // namespace convlab::cca
