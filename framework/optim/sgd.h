// SGD with momentum (heavy-ball or Nesterov), global-norm clipping, the reference's L2
// penalty (SgdConfig::l2: its gradient 2 l2 p is added inside the update, before clipping)
// and optional decoupled weight decay, in the reference's order: clip, momentum,
// p -= lr * u. Two backend calls per step for all parameters together.
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

  // The sum of squared gradients of the last step, the penalty's included, before clipping.
  const Tensor& grad_sum_squares() const { return grad_sum_squares_; }
  // The sum of p^2 over all parameters at the last step, before the update: the L2
  // penalty's value is config().l2 times it. One element, on the parameters' device.
  const Tensor& param_sum_squares() const { return param_sum_squares_; }
  // Momentum buffers, one per parameter (same order), for checkpoints.
  std::vector<Tensor>& momentum_buffers() { return momenta_; }
  const SgdConfig& config() const { return config_; }

 private:
  std::vector<Variable*> params_;
  SgdConfig config_;
  std::vector<Tensor> momenta_;
  Tensor grad_sum_squares_, param_sum_squares_;  // (1) each
};

// The reference's L2 penalty, w_decay * sum over parameters of sum(p^2), as a loss term
// through autograd (about two nodes per parameter and their backward). Training folds the
// same term into the optimiser instead (SgdConfig::l2); this form is the reference that the
// fused one is tested against.
Variable l2_penalty(const std::vector<Variable*>& params, double w_decay);

}  // namespace convlab::optim
