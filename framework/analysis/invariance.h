// CKA's invariances checked on real features: each layer against a transformed copy of
// itself. CKA is invariant to permuting features, isotropic scaling and orthogonal
// transforms (each gives 1), but not to arbitrary invertible linear maps.
#pragma once

#include <string>
#include <vector>

#include "framework/cka/options.h"
#include "framework/core/tensor.h"

namespace convlab {

struct InvarianceRow {
  std::string layer;
  int64_t features = 0;
  double permutation = 0;  // CKA(X, X P), P a random permutation
  double scaling = 0;      // CKA(X, 3.7 X)
  double orthogonal = 0;   // CKA(X, X Q), Q a product of 8 random Householder reflections
  double invertible = 0;   // CKA(X, X D), D diagonal with entries spread over [0.05, 20]
};

// layers: CPU (n, p) f32/f64 tensors of the same n examples.
std::vector<InvarianceRow> invariance_checks(const std::vector<Tensor>& layers, const std::vector<std::string>& names,
                                             const cka::Options& options, uint64_t seed);

}  // namespace convlab
