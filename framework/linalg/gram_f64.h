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

// (n, n) row-major, both triangles, of the features times 2^e, the power of two that brings
// their largest magnitude into [0.5, 1): exact, and it keeps every product within float64's
// range for features from 1e-300 to 1e300 (a Gram of 1e160s would overflow). The Gram is thus
// 4^e times the features' own; every measure that reads it is invariant to that factor
// (cosines, spectra normalised by their trace). Throws, naming the layer, on NaN or infinite
// features.
// `exponent`, if given, receives e: the features were multiplied by 2^-e (so ldexp(K, 2e) is
// the features' own Gram).
std::vector<double> gram_f64(const cka::FeatureView& x, Centring centring, int* exponent = nullptr);

}  // namespace convlab::linalg
