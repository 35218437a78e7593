// The orthogonal Procrustes distance (Ding, Denain and Steinhardt 2021) between two layers'
// features X (n, p1) and Y (n, p2) of the same examples: with X and Y centred per column and
// scaled to unit Frobenius norm,
//   d(X, Y) = min over orthogonal Q of ||X - Y Q||_F^2 = 2 - 2 ||X^T Y||_*,
// the nuclear norm (sum of singular values) of X^T Y; 0 for the same geometry, at most 2.
// Invariant to orthogonal maps and isotropic scaling of either side, not to other linear maps.
//
// Both forms go through one factor per layer, a matrix F (n, r) with F F^T = X X^T:
// - feature form, p <= n: F = X itself (r = p);
// - Gram form, p > n: F = U sqrt(Lambda) (r = n) from the eigendecomposition of the
//   normalised Gram K = X X^T = U Lambda U^T (LAPACK dsyevd), so that X^T Y is never formed
//   when p1 p2 is large (1e10 entries for two conv layers).
// Then ||X^T Y||_* = ||F_x^T F_y||_*, since both are the sum of the square roots of the
// eigenvalues of K L (the symmetric form K^{1/2} L K^{1/2} has the same ones). For C =
// F_x^T F_y (r1, r2) they are computed as the square roots of the eigenvalues of the smaller
// of C^T C and C C^T (dsyevd again). C is never larger than min(p1, n) x min(p2, n).
// Eigenvalues within n * eps * lambda_max of zero count as zero (kernels/procrustes.h).
//
// Cost per pair: n r1 r2 + min(r1, r2)^2 max(r1, r2) multiply-adds and an eigendecomposition
// of min(r1, r2); per layer and batch one eigendecomposition with vectors for the Gram form.
// Minibatch estimator: per batch of k examples the distance of each pair, averaged over
// batches weighted by k (the factor is then at most k x k, so a pair costs O(k^3) per
// batch and O(n k^2) in all). One batch of all n examples is the definition.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/cka/features.h"
#include "framework/cka/layer_pairs.h"
#include "framework/stats/batch_terms.h"

namespace convlab::procrustes {

enum class Form {
  automatic,  // features when p <= n, Gram otherwise
  features,
  gram,
};
const char* form_name(Form form);
Form form_for(int64_t examples, int64_t features);  // the automatic choice

// A layer's factor F (rows, cols) row-major with F F^T = the centred, normalised Gram.
struct Factor {
  int64_t rows = 0, cols = 0;
  std::vector<double> f;
  Form form = Form::features;
  bool constant = false;  // zero features after centring: no distance is defined
};

// Throws, naming the layer, for NaN or infinite features.
Factor factor(const cka::FeatureView& x, Form form = Form::automatic);

// ||F_x^T F_y||_* for two factors of the same examples.
double nuclear_norm(const Factor& x, const Factor& y);

// d(X, Y); NaN with a warning when either is constant.
double procrustes_distance(const cka::FeatureView& x, const cka::FeatureView& y, Form form = Form::automatic);

// The smallest batch Procrustes takes.
inline constexpr int64_t kMinExamples = 2;

// The largest: a batch of k examples may need the eigendecomposition of a k x k matrix, which
// LAPACK's dsyevd (32-bit workspace sizes, symmetric_eigen_fits) takes up to k = 32,766 and
// cuSOLVER's Xsyevd, by its maintainers' account, only up to about 25,000 (its workspace
// query fails beyond). 20,000 lies below both; tests check both queries at it. (At that size
// one Gram-form factor is 3.2 GB: smaller batches are also much faster, cost ~ n k^2.)
inline constexpr int64_t kMaxExamples = 20000;

class ProcrustesAccumulator {
 public:
  // layers_b 0: network A against itself, (L, L), each pair computed once (the distance is
  // symmetric and both sides are the same network); else every one of the (L, M) pairs.
  ProcrustesAccumulator(int64_t layers_a, int64_t layers_b);

  void add_batch(const std::vector<cka::FeatureView>& a);
  void add_batch(const std::vector<cka::FeatureView>& a, const std::vector<cka::FeatureView>& b);

  // (L, M) row-major weighted mean of the per-batch distances.
  std::vector<double> result() const { return terms_.weighted_mean(); }
  const stats::BatchTerms& terms() const { return terms_; }
  const cka::LayerPairs& pairs() const { return pairs_; }
  int64_t batches() const { return terms_.batches(); }
  int64_t examples() const { return examples_; }
  // The form each layer (row: A's, then B's) took in the first batch (a short last batch may
  // take the other).
  const std::vector<Form>& forms() const { return forms_; }

 private:
  void accumulate(const std::vector<const cka::FeatureView*>& layers);

  cka::LayerPairs pairs_;
  stats::BatchTerms terms_;
  int64_t examples_ = 0;
  std::vector<Form> forms_;
  std::vector<bool> warned_;
};

}  // namespace convlab::procrustes
