// One parameter element of SGD with momentum, in the reference's order: the gradient is
// already clipped (scaled by clip_scale); t = g + m t; u = g + m t (Nesterov) or u = t;
// p -= lr (u + decoupled_decay p).
#pragma once

#include <math.h>  // also brings the float overloads into scope on the host

#include "kernels/hd.h"

namespace convlab::kernels {

// The factor that brings the global gradient norm down to max_norm (1 when it is below).
template <class T>
CONVLAB_HD T clip_scale(T grad_sum_squares, T max_norm) {
  if (max_norm <= T(0)) return T(1);
  const T norm = sqrt(grad_sum_squares);
  return norm < max_norm ? T(1) : max_norm / norm;
}

template <class T>
CONVLAB_HD void sgd_element(T& param, T grad, T& momentum_buf, T lr, T clip, T momentum,
                            bool nesterov, T decoupled_decay) {
  const T g = grad * clip;
  momentum_buf = g + momentum * momentum_buf;
  const T update = nesterov ? g + momentum * momentum_buf : momentum_buf;
  param -= lr * (update + decoupled_decay * param);
}

}  // namespace convlab::kernels
