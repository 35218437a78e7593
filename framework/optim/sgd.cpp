#include "framework/optim/sgd.h"

#include "framework/ops/ops.h"

namespace convlab::optim {

Sgd::Sgd(std::vector<Variable*> params, SgdConfig config) : params_(std::move(params)), config_(config) {
  CONVLAB_CHECK(!params_.empty(), "Sgd needs at least one parameter");
  CONVLAB_CHECK(config_.momentum >= 0 && config_.max_norm >= 0 && config_.l2 >= 0,
                "Sgd: momentum {}, max_norm {} and l2 {} must be >= 0", config_.momentum, config_.max_norm, config_.l2);
  for (Variable* p : params_) momenta_.push_back(Tensor::zeros(p->shape(), p->dtype(), p->device()));
  grad_sum_squares_ = Tensor::zeros({1}, params_[0]->dtype(), params_[0]->device());
  param_sum_squares_ = Tensor::zeros({1}, params_[0]->dtype(), params_[0]->device());
}

void Sgd::step(const Tensor& lr) {
  std::vector<Tensor*> params;
  std::vector<const Tensor*> const_params, grads;
  std::vector<Tensor*> momenta;
  for (size_t i = 0; i < params_.size(); ++i) {
    Variable& p = *params_[i];
    if (!p.grad().defined()) p.mutable_grad() = Tensor::zeros(p.shape(), p.dtype(), p.device());
    params.push_back(&p.mutable_value());
    const_params.push_back(&p.value());
    grads.push_back(&p.grad());
    momenta.push_back(&momenta_[i]);
  }
  const Backend& be = backend(lr.device());
  be.sgd_sums(const_params, grads, config_.l2, grad_sum_squares_, param_sum_squares_);
  be.sgd_update(params, grads, momenta, grad_sum_squares_, lr, config_);
}

Variable l2_penalty(const std::vector<Variable*>& params, double w_decay) {
  CONVLAB_CHECK(!params.empty(), "l2_penalty of no parameters");
  Variable total = ops::sum_squares(*params[0]);
  for (size_t i = 1; i < params.size(); ++i) total = ops::add(total, ops::sum_squares(*params[i]));
  return ops::scale(total, w_decay);
}

}  // namespace convlab::optim
