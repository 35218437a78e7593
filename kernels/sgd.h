// One parameter element of SGD with momentum, in the reference's order: the gradient of the
// loss -- the L2 penalty l2 * sum(p^2) included, whose gradient 2 l2 p is folded in here
// rather than recorded through autograd -- is scaled by clip_scale; t = g + m t;
// u = g + m t (Nesterov) or u = t; p -= lr (u + decoupled_decay p).
#pragma once

#include <math.h>  // also brings the float overloads into scope on the host

#include "kernels/hd.h"

namespace convlab::kernels {

// The gradient of cross-entropy + l2 * sum(p^2) with respect to p, given the cross-entropy
// gradient: g + (2 l2) p. two_l2 is formed once as T(2 l2), which equals 2 * T(l2) exactly, so
// this rounds as autograd's backward of the penalty term does (scale, then add).
template <class T>
CONVLAB_HD T penalised_grad(T grad, T param, T two_l2) {
  return two_l2 == T(0) ? grad : grad + two_l2 * param;
}

// The factor that brings the global gradient norm down to max_norm (1 when it is below).
template <class T>
CONVLAB_HD T clip_scale(T grad_sum_squares, T max_norm) {
  if (max_norm <= T(0)) return T(1);
  const T norm = sqrt(grad_sum_squares);
  return norm < max_norm ? T(1) : max_norm / norm;
}

// `grad` is the cross-entropy gradient; the penalty's gradient joins it before clipping.
template <class T>
CONVLAB_HD void sgd_element(T& param, T grad, T& momentum_buf, T lr, T clip, T momentum,
                            bool nesterov, T decoupled_decay, T two_l2) {
  const T g = penalised_grad(grad, param, two_l2) * clip;
  momentum_buf = g + momentum * momentum_buf;
  const T update = nesterov ? g + momentum * momentum_buf : momentum_buf;
  param -= lr * (update + decoupled_decay * param);
}

}  // namespace convlab::kernels
