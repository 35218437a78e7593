// ReLU and inverted dropout, per element.
#pragma once

#include <cstdint>

#include "kernels/hd.h"
#include "kernels/philox.h"

namespace convlab::kernels {

template <class T> CONVLAB_HD T relu(T x) { return x > T(0) ? x : T(0); }

// The gradient passes where the output is positive (the kink at 0 takes gradient 0).
template <class T> CONVLAB_HD T relu_grad(T y, T grad_y) { return y > T(0) ? grad_y : T(0); }

// Element `index` is kept with probability 1 - p; kept elements are scaled by 1 / (1 - p).
template <class T>
CONVLAB_HD T dropout_factor(RandomKey key, uint64_t index, double p) {
  const bool keep = random_uniform(key, index) >= static_cast<float>(p);
  return keep ? static_cast<T>(1.0 / (1.0 - p)) : T(0);
}

}  // namespace convlab::kernels
