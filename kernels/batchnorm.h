// Batch normalisation, per element and per channel. Statistics are the biased batch
// variance, as the reference uses for both normalising and the running averages.
#pragma once

#include <math.h>  // also brings the float overloads into scope on the host

#include "kernels/hd.h"

namespace convlab::kernels {

template <class T>
CONVLAB_HD T batchnorm_inv_std(T variance, double eps) {
  return T(1) / sqrt(variance + static_cast<T>(eps));
}

// y = gamma (x - mean) inv_std + beta
template <class T>
CONVLAB_HD T batchnorm_apply(T x, T mean, T inv_std, T gamma, T beta) {
  return (x - mean) * inv_std * gamma + beta;
}

// running = (1 - momentum) running + momentum batch
template <class T>
CONVLAB_HD T running_average(T running, T batch, double momentum) {
  return static_cast<T>((1.0 - momentum) * running + momentum * batch);
}

// With xhat = (x - mean) inv_std and m elements per channel:
// grad_x = gamma inv_std (grad_y - mean(grad_y) - xhat mean(grad_y xhat)),
// where mean(grad_y) = grad_beta / m and mean(grad_y xhat) = grad_gamma / m.
template <class T>
CONVLAB_HD T batchnorm_grad_input(T x, T grad_y, T mean, T inv_std, T gamma, T grad_gamma,
                                  T grad_beta, T inv_count) {
  const T xhat = (x - mean) * inv_std;
  return gamma * inv_std * (grad_y - grad_beta * inv_count - xhat * grad_gamma * inv_count);
}

// BatchNorm in evaluation folded into the convolution before it: with
// scale = gamma / sqrt(var + eps), bn(conv(x, w) + b) = conv(x, w scale) + (b - mean) scale + beta.
template <class T>
CONVLAB_HD T batchnorm_fold_scale(T gamma, T running_var, double eps) {
  return gamma * batchnorm_inv_std(running_var, eps);
}
template <class T>
CONVLAB_HD T batchnorm_fold_bias(T bias, T running_mean, T scale, T beta) {
  return (bias - running_mean) * scale + beta;
}

}  // namespace convlab::kernels
