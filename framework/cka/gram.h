// Gram matrices of features: K_ij = k(x_i, x_j) for the n examples of one layer.
//
// Layout: K is (n, n) f64, row-major, both triangles filled.
// Precision: features are centred per column first (see centre_columns). f64 features: all in
// f64 (dsyrk). f32 features: products and partial sums in f32 over blocks of at most
// kGramBlock features (ssyrk), the blocks summed in f64, so the f32 rounding grows with the
// block length, not with the layer width (1e5 features).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/cka/features.h"
#include "framework/cka/options.h"

namespace convlab::cka {

inline constexpr int64_t kGramBlock = 2048;

// K = X_c X_c^T with X_c the column-centred features, into out (n, n).
void linear_gram(const CentredFeatures& x, double* out);

// The median of the squared distances D_ij = K_ii + K_jj - 2 K_ij between distinct examples,
// over the n(n-1)/2 pairs i < j; an even count averages the two middle values (as numpy's
// median). Kornblith et al. take np.median over all n^2 entries of D, which adds the n zero
// self-distances and counts every pair twice, pulling the median down; the zeros say nothing
// about the spread of the data, so we leave them out. Needs n >= 2.
double median_squared_distance(const double* linear_gram, int64_t n);

// The median, smallest nonzero and largest of the same distances (rbf_width.h reads the last
// two). Needs n >= 2.
struct DistanceSpread {
  double median = 0.0;
  double smallest_nonzero = 0.0;  // 0 when every distance is 0
  double largest = 0.0;
};
DistanceSpread distance_spread(const double* linear_gram, int64_t n);

// Turns a linear Gram (n, n) into the RBF Gram in place: K_ij = exp(-D_ij / (2 s^2)) with
// s^2 = frac^2 * median_squared_distance. Returns s^2. Throws, naming `label` (a layer label,
// "layer 'conv3'") and --rbf-frac, when frac makes every off-diagonal entry 1 or 0
// (rbf_width.h). `spread`, if given, receives the distances' spread.
double rbf_from_linear_gram(double* gram, int64_t n, double frac, const std::string& label = {},
                            DistanceSpread* spread = nullptr);

// A layer's RBF Gram as CKA uses it: from its linear Gram, centred in place for the estimator
// (centre_for). Throws as rbf_from_linear_gram does, and also when centring leaves only
// rounding of a kernel whose examples differ: the width made it flat, not the features.
// Returns centre_for's answer (true: constant features, a zero Gram).
bool centred_rbf_gram(double* gram, int64_t n, double frac, Estimator estimator, const std::string& label);

// The Gram of one layer's features under kernel, into out (n, n). The workspace holds the
// centred copy of the features between calls (see centre_columns).
void gram_into(const FeatureView& x, const Kernel& kernel, double* out, CentredFeatures& workspace);
void gram_into(const FeatureView& x, const Kernel& kernel, double* out);
std::vector<double> gram(const FeatureView& x, const Kernel& kernel);

}  // namespace convlab::cka
