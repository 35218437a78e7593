// The CUDA functions behind the Backend table; each has the signature of its slot and a CPU
// twin in backend/cpu with a parity test in tests/test_cuda_parity.cpp. They take f32 CUDA
// tensors (labels i32, images and their labels u8) and queue work on the stream of their
// operands' device without waiting for it.
#pragma once

#include "framework/backend/backend.h"

namespace convlab::backend_cuda {

// elementwise.cu
void fill(Tensor& t, double value);
void convert(const Tensor& x, Tensor& y);
void add(const Tensor& a, const Tensor& b, Tensor& out);
void axpy(double alpha, const Tensor& x, Tensor& y);
void mul(const Tensor& a, const Tensor& b, Tensor& out);
void scale_by(const Tensor& x, const Tensor& s, double alpha, Tensor& out);
void relu_forward(const Tensor& x, Tensor& y);
void relu_backward(const Tensor& y, const Tensor& grad_y, Tensor& grad_x);
void dropout_forward(const Tensor& x, double p, RandomKey key, Tensor& y);
void dropout_backward(const Tensor& grad_y, double p, RandomKey key, Tensor& grad_x);

// reduce.cu
void sum(const Tensor& x, Tensor& out);
void sum_squares(const Tensor& x, Tensor& out);

// conv2d.cpp (cuDNN) and conv2d_kernels.cu
void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y, const ConvGeometry& g);
void conv2d_backward_data(const Tensor& w, const Tensor& grad_y, Tensor& grad_x, const ConvGeometry& g);
void conv2d_backward_filter(const Tensor& x, const Tensor& grad_y, Tensor& grad_w, const ConvGeometry& g);
void conv2d_backward_bias(const Tensor& grad_y, Tensor& grad_bias);

// linear.cpp (cuBLAS GEMMs; the bias and its gradient through the per-channel kernels)
void linear_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y);
void linear_backward_data(const Tensor& w, const Tensor& grad_y, Tensor& grad_x);
void linear_backward_weight(const Tensor& x, const Tensor& grad_y, Tensor& grad_w);
void linear_backward_bias(const Tensor& grad_y, Tensor& grad_bias);

// batchnorm.cu
void batchnorm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps, double momentum,
                             bool relu, Tensor& y, Tensor& saved_mean, Tensor& saved_inv_std, Tensor& running_mean,
                             Tensor& running_var);
void batchnorm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                            const Tensor& running_var, double eps, bool relu, Tensor& y);
void batchnorm_backward(const Tensor& x, const Tensor* y, const Tensor& gamma, const Tensor& saved_mean, const Tensor& saved_inv_std,
                        const Tensor& grad_y, Tensor& grad_x, Tensor& grad_gamma, Tensor& grad_beta);

// pooling_loss.cu. Labels stay on the device, so they are not range-checked (that would
// wait for the GPU): a label outside 0..K-1 gives a NaN loss and NaN probabilities.
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

// optimizer.cu
void sgd_sums(const std::vector<const Tensor*>& params, const std::vector<const Tensor*>& grads, double l2,
              Tensor& grad_sum_squares, Tensor& param_sum_squares);
void sgd_update(const std::vector<Tensor*>& params, const std::vector<const Tensor*>& grads,
                const std::vector<Tensor*>& momenta, const Tensor& grad_sum_squares, const Tensor& lr,
                const SgdConfig& config);

// gather_batch.cu. Indices stay on the device and are not range-checked on the host: an
// index outside the image set gives a NaN image and label -1.
void gather_batch(const Tensor& images, const Tensor& labels, const Tensor& order, int64_t first,
                  const kernels::AugmentConfig& config, bool augment, uint64_t seed, uint32_t epoch, Tensor& batch,
                  Tensor& labels_out);

}  // namespace convlab::backend_cuda
