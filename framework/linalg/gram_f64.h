// A layer's Gram matrix computed in float64 throughout, for the measures whose definitions
// are written in float64 (mutual k-NN, CKNNA, SVCCA, PWCCA, linear predictivity): f32 features
// are widened block by block (kBlock features at a time), so no float64 copy of a wide layer
// is ever held, and every product and sum is float64.
#pragma once

#include <cstdint>
#include <vector>

#include "framework/cka/features.h"

namespace convlab::linalg {

enum class Centring {
  none,     // K = X X^T of the features as given
  columns,  // K = X_c X_c^T, X_c: each feature's mean over the n examples subtracted
};

// (n, n) row-major, both triangles. Throws, naming the layer, on NaN or infinite features.
std::vector<double> gram_f64(const cka::FeatureView& x, Centring centring);

}  // namespace convlab::linalg
