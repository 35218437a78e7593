// The CPU backend: the reference implementation of every slot of Backend (backend.h).
#pragma once

#include "framework/backend/backend.h"

namespace convlab::backend_cpu {

void fill(Tensor& t, double value);
void convert(const Tensor& x, Tensor& y);
void add(const Tensor& a, const Tensor& b, Tensor& out);
void axpy(double alpha, const Tensor& x, Tensor& y);
void mul(const Tensor& a, const Tensor& b, Tensor& out);
void scale_by(const Tensor& x, const Tensor& s, double alpha, Tensor& out);
void sum(const Tensor& x, Tensor& out);
void sum_squares(const Tensor& x, Tensor& out);
void relu_forward(const Tensor& x, Tensor& y);
void relu_backward(const Tensor& y, const Tensor& grad_y, Tensor& grad_x);
void dropout_forward(const Tensor& x, double p, RandomKey key, Tensor& y);
void dropout_backward(const Tensor& grad_y, double p, RandomKey key, Tensor& grad_x);
void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y, const ConvGeometry& g);
void conv2d_backward_data(const Tensor& w, const Tensor& grad_y, Tensor& grad_x, const ConvGeometry& g);
void conv2d_backward_filter(const Tensor& x, const Tensor& grad_y, Tensor& grad_w, const ConvGeometry& g);
void conv2d_backward_bias(const Tensor& grad_y, Tensor& grad_bias);
void linear_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y);
void linear_backward_data(const Tensor& w, const Tensor& grad_y, Tensor& grad_x);
void linear_backward_weight(const Tensor& x, const Tensor& grad_y, Tensor& grad_w);
void linear_backward_bias(const Tensor& grad_y, Tensor& grad_bias);
void batchnorm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps, double momentum,
                             bool relu, Tensor& y, Tensor& saved_mean, Tensor& saved_inv_std, Tensor& running_mean, Tensor& running_var);
void batchnorm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean, const Tensor& running_var, double eps, bool relu, Tensor& y);
void batchnorm_backward(const Tensor& x, const Tensor* y, const Tensor& gamma, const Tensor& saved_mean, const Tensor& saved_inv_std, const Tensor& grad_y, Tensor& grad_x, Tensor& grad_gamma, Tensor& grad_beta);
void fold_batchnorm(const Tensor& weight, const Tensor* bias, const Tensor& gamma, const Tensor& beta,
                    const Tensor& running_mean, const Tensor& running_var, double eps, Tensor& folded_weight,
                    Tensor& folded_bias);
void global_avg_pool_forward(const Tensor& x, Tensor& y);
void global_avg_pool_backward(const Tensor& grad_y, Tensor& grad_x);
void softmax_xent_forward(const Tensor& logits, const Tensor& labels, Tensor& loss, Tensor& probs);
void softmax_xent_backward(const Tensor& probs, const Tensor& labels, const Tensor& grad_loss, Tensor& grad_logits);
void track_nonfinite(const Tensor& value, const Tensor& step, Tensor& first_bad_step);
void increment(Tensor& counter, int64_t amount);
void count_correct(const Tensor& logits, const Tensor& labels, Tensor& correct);
void sgd_sums(const std::vector<const Tensor*>& params, const std::vector<const Tensor*>& grads, double l2,
              Tensor& grad_sum_squares, Tensor& param_sum_squares);
void sgd_update(const std::vector<Tensor*>& params, const std::vector<const Tensor*>& grads, const std::vector<Tensor*>& momenta, const Tensor& grad_sum_squares, const Tensor& lr, const SgdConfig& config);
void gather_batch(const Tensor& images, const Tensor& labels, const Tensor& order, int64_t first, const kernels::AugmentConfig& config, bool augment, uint64_t seed, uint32_t epoch, Tensor& batch, Tensor& labels_out);

}  // namespace convlab::backend_cpu
