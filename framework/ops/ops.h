// The differentiable operations. Each records its backward (when a gradient is wanted) and
// runs on whatever device its operands live on, through the backend dispatcher.
#pragma once

#include "framework/autograd/variable.h"
#include "framework/backend/conv_geometry.h"
#include "kernels/philox.h"

namespace convlab::ops {

struct ConvSpec {
  int64_t stride = 1;
  Padding padding = Padding::same;  // XLA's SAME (asymmetric for stride 2 on even sizes)
  int64_t pad = 0;                  // with Padding::explicit_: zeros on every side
};

// x (N, C, H, W), weight (K, C, R, S), bias (K) or null -> (N, K, OH, OW)
Variable conv2d(const Variable& x, const Variable& weight, const Variable* bias, const ConvSpec& spec);

// Fully connected: x (N, in), weight (out, in), bias (out) or null -> (N, out) = x weight^T + bias
Variable linear(const Variable& x, const Variable& weight, const Variable* bias);

// x (N, C, H, W); gamma, beta (C). Training normalises with the batch statistics and
// updates the running ones (running = (1 - momentum) running + momentum batch);
// evaluation normalises with the running statistics.
Variable batchnorm2d(const Variable& x, const Variable& gamma, const Variable& beta, Tensor& running_mean,
                     Tensor& running_var, bool training, double eps, double momentum);
// relu(batchnorm2d(...)) as one op: one pass over the tensor forward, the ReLU's gate folded
// into the BatchNorm backward's two passes (no ReLU tensor, no ReLU node).
Variable batchnorm2d_relu(const Variable& x, const Variable& gamma, const Variable& beta, Tensor& running_mean,
                          Tensor& running_var, bool training, double eps, double momentum);

Variable relu(const Variable& x);
// Inverted dropout with the mask drawn from `key` (identical on every device); identity
// when p == 0.
Variable dropout(const Variable& x, double p, RandomKey key);

// (N, C, H, W) -> (N, C), in x's dtype (f32 for bf16 x: reductions and the loss stay float).
Variable global_avg_pool(const Variable& x);

// Mean softmax cross-entropy of logits (N, K) against labels (N) i32 -> (1)
Variable softmax_cross_entropy(const Variable& logits, const Tensor& labels);

Variable add(const Variable& a, const Variable& b);
Variable mul(const Variable& a, const Variable& b);
Variable scale(const Variable& x, double alpha);
Variable sum(const Variable& x);          // -> (1)
Variable sum_squares(const Variable& x);  // -> (1), for the L2 penalty
Variable reshape(const Variable& x, Shape shape);
// x in another dtype and/or memory format (f32/f64/bf16; contiguous/channels_last): the
// explicit conversion, e.g. a bf16 channels_last working copy of an f32 weight. Its backward
// converts the gradient back to x's dtype and format.
Variable convert(const Variable& x, DType dtype, MemoryFormat format);
Variable flatten(const Variable& x);      // (N, ...) -> (N, rest)

}  // namespace convlab::ops
