// SGD with momentum (heavy-ball or Nesterov), global-norm clipping and optional decoupled
// weight decay, in the reference's order: clip, momentum, p -= lr * u. Two backend calls
// per step for all parameters together.
#pragma once

#include <vector>

#include "framework/autograd/variable.h"
#include "framework/backend/backend.h"

namespace convlab::optim {

class Sgd {
 public:
  Sgd(std::vector<Variable*> params, SgdConfig config);

  // One update with learning rate lr (a one-element tensor on the parameters' device, so a
  // step needs nothing from the host). Parameters without a gradient count as zero.
  void step(const Tensor& lr);

  // The sum of squared gradients of the last step (before clipping); one element.
  const Tensor& grad_sum_squares() const { return grad_sum_squares_; }
  // Momentum buffers, one per parameter (same order), for checkpoints.
  std::vector<Tensor>& momentum_buffers() { return momenta_; }
  const SgdConfig& config() const { return config_; }

 private:
  std::vector<Variable*> params_;
  SgdConfig config_;
  std::vector<Tensor> momenta_;
  Tensor grad_sum_squares_;
};

// The reference's L2 penalty, w_decay * sum over parameters of sum(p^2), as a loss term.
Variable l2_penalty(const std::vector<Variable*>& params, double w_decay);

}  // namespace convlab::optim
