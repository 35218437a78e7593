// The backend dispatcher: one table of operations with the same signature for every device.
// The CPU table (backend/cpu) is the reference; the CUDA table (backend/cuda) fills the same
// slots. A slot the CUDA backend has not written yet throws "not implemented on CUDA yet":
// nothing ever falls back to the CPU behind the caller's back.
//
// Conventions: outputs are preallocated by the caller with the right shape, dtype and
// device; every operand of one call lives on the same device. Scalars that change between
// steps (learning rate, gradient norm) are one-element tensors so that a CUDA step never
// has to wait for the host. The CPU functions accept f32 and f64 (f64 for gradient checks).
#pragma once

#include <algorithm>
#include <vector>
#include <string>

#include "framework/backend/conv_geometry.h"
#include "framework/core/tensor.h"
#include "kernels/augment.h"
#include "kernels/philox.h"

namespace convlab {

struct SgdConfig {
  double momentum = 0.9;
  bool nesterov = true;
  double max_norm = 0.0;       // clip to this global L2 norm; 0 = no clipping
  double decoupled_decay = 0;  // p -= lr * decay * p, besides the gradient (AdamW-style)
  // The reference's L2 penalty l2 * sum(p^2), part of the loss: its gradient 2 l2 p joins the
  // gradient before clipping, inside the optimiser's kernels (no autograd nodes for it).
  double l2 = 0;
};

struct Backend {
  // ---- memory and elementwise ----
  // Element-wise slots take operands of one shape, dtype and memory format (check_same_shape)
  // and index them in memory order, so they run in any format. bf16 operands are read into
  // float, computed in float and rounded once when stored (kernels/bf16.h).
  void (*fill)(Tensor& t, double value);
  // y = x in y's dtype and memory format (same logical shape): f32, f64 and bf16 either way
  // (to bf16 rounds to nearest even), contiguous <-> channels_last for 4-D tensors.
  void (*convert)(const Tensor& x, Tensor& y);
  void (*add)(const Tensor& a, const Tensor& b, Tensor& out);                 // out = a + b
  void (*axpy)(double alpha, const Tensor& x, Tensor& y);                     // y += alpha x
  void (*mul)(const Tensor& a, const Tensor& b, Tensor& out);                 // out = a * b
  // out = alpha * s[0] * x, s a one-element tensor (backward of sums and scalings). Unlike
  // the slots above, x, s and out may each be f32 or bf16 (both backends take the same mixes).
  void (*scale_by)(const Tensor& x, const Tensor& s, double alpha, Tensor& out);
  // out (1) = sum x, sum x^2: x and out f32 or bf16 on both backends, sums in double.
  void (*sum)(const Tensor& x, Tensor& out);
  void (*sum_squares)(const Tensor& x, Tensor& out);

  // ---- activations ----
  void (*relu_forward)(const Tensor& x, Tensor& y);
  void (*relu_backward)(const Tensor& y, const Tensor& grad_y, Tensor& grad_x);
  // Inverted dropout: y = x * keep / (1 - p); keep drawn from `key` at each element index
  // (the key's step read from key.step_source when set).
  void (*dropout_forward)(const Tensor& x, double p, RandomKey key, Tensor& y);
  void (*dropout_backward)(const Tensor& grad_y, double p, RandomKey key, Tensor& grad_x);

  // ---- convolution ----  x (N, C, H, W), w (K, C, R, S), bias (K), y (N, K, OH, OW)
  // x, w and y share one dtype (f32, bf16; f64 on the CPU) and one format: contiguous, or
  // channels_last (x and y NHWC, w KRSC). The bias (and its gradient) stays f32.
  void (*conv2d_forward)(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y,
                         const ConvGeometry& g);
  void (*conv2d_backward_data)(const Tensor& w, const Tensor& grad_y, Tensor& grad_x,
                               const ConvGeometry& g);
  void (*conv2d_backward_filter)(const Tensor& x, const Tensor& grad_y, Tensor& grad_w,
                                 const ConvGeometry& g);
  void (*conv2d_backward_bias)(const Tensor& grad_y, Tensor& grad_bias);

  // ---- fully connected ----  x (N, in), w (out, in), bias (out), y (N, out); f32 (f64 on
  // the CPU), 2-D so contiguous.
  // y = x w^T + bias: one GEMM (BLAS on the CPU, cuBLAS on CUDA) plus the bias.
  void (*linear_forward)(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y);
  void (*linear_backward_data)(const Tensor& w, const Tensor& grad_y, Tensor& grad_x);    // grad_y w
  void (*linear_backward_weight)(const Tensor& x, const Tensor& grad_y, Tensor& grad_w);  // grad_y^T x
  void (*linear_backward_bias)(const Tensor& grad_y, Tensor& grad_bias);                  // column sums

  // ---- batch normalisation ----  x, y (N, C, H, W), f32 or bf16 in either format;
  // per-channel tensors (C), f32 (f64 on the CPU, with x f64)
  // Training: normalise with the batch statistics, save mean and 1/sqrt(var + eps) for the
  // backward, and update running = (1 - momentum) running + momentum batch (biased var).
  // With `relu`, y = max(bn(x), 0) in the same pass (no separate ReLU over the tensor).
  void (*batchnorm_forward_train)(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                  double eps, double momentum, bool relu, Tensor& y, Tensor& saved_mean,
                                  Tensor& saved_inv_std, Tensor& running_mean, Tensor& running_var);
  void (*batchnorm_forward_eval)(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                 const Tensor& running_mean, const Tensor& running_var, double eps, bool relu,
                                 Tensor& y);
  // When the forward applied the ReLU, `y` is its output and the ReLU's gate (y > 0) is
  // applied to grad_y inside both passes (statistics and input gradient); else y is null.
  void (*batchnorm_backward)(const Tensor& x, const Tensor* y, const Tensor& gamma, const Tensor& saved_mean,
                             const Tensor& saved_inv_std, const Tensor& grad_y, Tensor& grad_x,
                             Tensor& grad_gamma, Tensor& grad_beta);

  // Evaluation's BatchNorm folded into the convolution before it, once per set of weights:
  // scale = gamma / sqrt(var + eps), folded_weight (K, C, R, S) = weight * scale[k],
  // folded_bias (K) = (bias - mean) scale + beta (bias null: 0). All f32 (f64 on the CPU).
  void (*fold_batchnorm)(const Tensor& weight, const Tensor* bias, const Tensor& gamma, const Tensor& beta,
                         const Tensor& running_mean, const Tensor& running_var, double eps, Tensor& folded_weight,
                         Tensor& folded_bias);

  // ---- pooling and loss ----
  // x (N, C, H, W) f32 or bf16 in either format -> y (N, C) f32 (summed in double); the
  // backward takes y's gradient f32 and writes x's in x's dtype and format. Softmax and
  // the counts take 2-D f32 (f64 on the CPU) tensors.
  void (*global_avg_pool_forward)(const Tensor& x, Tensor& y);
  void (*global_avg_pool_backward)(const Tensor& grad_y, Tensor& grad_x);
  // Mean softmax cross-entropy over the batch. logits (N, K), labels (N) i32, loss (1),
  // probs (N, K) saved for the backward.
  void (*softmax_xent_forward)(const Tensor& logits, const Tensor& labels, Tensor& loss, Tensor& probs);
  void (*softmax_xent_backward)(const Tensor& probs, const Tensor& labels, const Tensor& grad_loss,
                                Tensor& grad_logits);
  // If value (1) is NaN or infinite and first_bad_step (1) i32 is still -1, sets it to
  // step[0] ((1) i32): a training loop learns where it diverged without reading the loss
  // every step.
  void (*track_nonfinite)(const Tensor& value, const Tensor& step, Tensor& first_bad_step);
  // counter (1) i32 += amount: the step counter a training step advances on the device.
  void (*increment)(Tensor& counter, int64_t amount);
  // correct (1) f32 = how many rows of logits have their largest entry at the label.
  void (*count_correct)(const Tensor& logits, const Tensor& labels, Tensor& correct);

  // ---- optimiser (multi-tensor: one call for all parameters) ----
  // One pass over every parameter and its gradient: grad_sum_squares (1) = sum of
  // (g + 2 l2 p)^2, the squared norm of the loss's gradient with the L2 penalty included, and
  // param_sum_squares (1) = sum of p^2 (so the penalty's value is l2 times it).
  void (*sgd_sums)(const std::vector<const Tensor*>& params, const std::vector<const Tensor*>& grads, double l2,
                   Tensor& grad_sum_squares, Tensor& param_sum_squares);
  // With g = grad + 2 config.l2 p: clips by the global norm sqrt(grad_sum_squares) (if
  // config.max_norm > 0), then t = g + m t; u = g + m t (Nesterov) or u = t;
  // p -= lr (u + decoupled_decay p).
  void (*sgd_update)(const std::vector<Tensor*>& params, const std::vector<const Tensor*>& grads,
                     const std::vector<Tensor*>& momenta, const Tensor& grad_sum_squares,
                     const Tensor& lr, const SgdConfig& config);

  // ---- data ----
  // Gathers images[order[first + i]] (u8 (M, 3, 32, 32)) for i < B into batch (B, 3, 32, 32),
  // f32 or bf16 (rounded once), contiguous or channels_last: normalised and, if `augment`,
  // cropped, flipped and cut out as kernels/augment.h
  // draws them for (seed, epoch, order[first + i]); labels_out[i] = labels[order[first + i]].
  // The whole epoch's order (i32) stays on the device: a step uploads nothing.
  void (*gather_batch)(const Tensor& images, const Tensor& labels, const Tensor& order, int64_t first,
                       const kernels::AugmentConfig& config, bool augment, uint64_t seed,
                       uint32_t epoch, Tensor& batch, Tensor& labels_out);
};

const Backend& cpu_backend();
// The CUDA table; without CUDA in the build, every slot throws.
const Backend& cuda_backend();
// The CUDA table with a wait and an error check naming the op after every call
// (DeviceContext::checks_each_op, --sync-each-op).
const Backend& cuda_backend_checked();
// The table for a device: the CPU's, or the CUDA one (checked when the device asks for it).
const Backend& backend(Device device);

// Checks shared by both backends.
void check_same_device(std::initializer_list<const Tensor*> tensors, const char* op);
// The same shape, dtype and memory format.
void check_same_shape(const Tensor& a, const Tensor& b, const char* op);

[[noreturn]] void throw_not_implemented(const char* device, const char* op);

#if __cplusplus >= 202002L  // the tables are C++20; CUDA sources (C++17) never need this
// For slots a backend lacks: `&not_implemented<"cuda", "relu_forward">` fits any signature.
template <size_t N>
struct OpName {
  char text[N];
  constexpr OpName(const char (&s)[N]) { std::copy_n(s, N, text); }
};
template <OpName Device, OpName Op, class... Args>
void not_implemented(Args...) {
  throw_not_implemented(Device.text, Op.text);
}
#endif

}  // namespace convlab
