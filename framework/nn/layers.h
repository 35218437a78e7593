// The standard layers, each a Module over the ops in framework/ops.
#pragma once

#include "framework/nn/module.h"
#include "framework/ops/ops.h"

namespace convlab::nn {

struct Conv2dOptions {
  int64_t in_channels = 0, out_channels = 0, kernel = 3, stride = 1;
  Padding padding = Padding::same;
  int64_t pad = 0;  // with Padding::explicit_
  bool bias = false;
};

// weight (K, C, R, S), He-normal; bias (K), zeros.
class Conv2d : public Module {
 public:
  Conv2d(const Conv2dOptions& options, uint64_t seed, uint32_t init_id, DType dtype = DType::f32);
  Variable forward(const Variable& x, ForwardContext& ctx) override;
  Variable& weight() { return weight_; }
  Variable* bias() { return bias_; }
  const ops::ConvSpec& spec() const { return spec_; }

  // Evaluation with the BatchNorm that follows folded in (BatchNorm2d::fold_into): while
  // set, eval-mode forwards use this weight (K, C, R, S) and bias (K) instead.
  void set_folded(Tensor weight, Tensor bias);
  void clear_folded();
  bool folded() const { return folded_weight_.defined(); }

 private:
  ops::ConvSpec spec_;
  Variable& weight_;
  Variable* bias_ = nullptr;
  Variable folded_weight_, folded_bias_;
};

struct LinearOptions {
  int64_t in_features = 0, out_features = 0;
  bool bias = true;
};

// Fully connected, y = x weight^T + bias: weight (out, in), He-normal (std sqrt(2 / in)) from
// (seed, init_id); bias (out), zeros. Parameter names follow PyTorch: weight, bias.
class Linear : public Module {
 public:
  Linear(const LinearOptions& options, uint64_t seed, uint32_t init_id, DType dtype = DType::f32);
  Variable forward(const Variable& x, ForwardContext& ctx) override;  // x (N, in) -> (N, out)
  Variable& weight() { return weight_; }

 private:
  Variable& weight_;
  Variable* bias_ = nullptr;
};

// scale (C) = 1, shift (C) = 0; running_mean (C) = 0, running_var (C) = 1. Parameter and
// buffer names follow PyTorch: weight, bias, running_mean, running_var.
class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int64_t channels, double eps = 1e-5, double momentum = 0.1, DType dtype = DType::f32);
  Variable forward(const Variable& x, ForwardContext& ctx) override;
  // relu(forward(x)) as one fused op (ops::batchnorm2d_relu).
  Variable forward_relu(const Variable& x, ForwardContext& ctx);

  // Inference: folds this normalisation, with its running statistics as they are now, into
  // the convolution that feeds it (Backend::fold_batchnorm). Eval-mode forwards of both then
  // cost one convolution with a bias: this layer passes its input through (or only applies
  // the ReLU of forward_relu). The first training-mode forward undoes the folding, so a stale
  // fold never outlives a change of the weights.
  void fold_into(Conv2d& conv);
  void unfold();

  double eps() const { return eps_; }
  double momentum() const { return momentum_; }  // PyTorch's convention: new = (1 - m) old + m batch

 private:
  // Whether a forward may skip the normalisation (folded, eval mode); unfolds in training.
  bool passes_through();
  double eps_, momentum_;
  Conv2d* folded_into_ = nullptr;
  Variable& gamma_;
  Variable& beta_;
  Tensor& running_mean_;
  Tensor& running_var_;
};

class ReLU : public Module {
 public:
  Variable forward(const Variable& x, ForwardContext&) override { return ops::relu(x); }
};

// Dropout with its own stream: masks differ between layers and steps, and repeat for the
// same (seed, layer, step).
class Dropout : public Module {
 public:
  Dropout(double p, uint32_t layer) : p_(p), layer_(layer) {}
  Variable forward(const Variable& x, ForwardContext& ctx) override;

 private:
  double p_;
  uint32_t layer_;
};

class GlobalAvgPool : public Module {
 public:
  Variable forward(const Variable& x, ForwardContext&) override { return ops::global_avg_pool(x); }
};

// Runs its children in order. Children named by their position ("0", "1", ...).
class Sequential : public Module {
 public:
  template <class M>
  M& add(std::unique_ptr<M> module) {
    M& ref = register_module(std::to_string(layers_.size()), std::move(module));
    layers_.push_back(&ref);
    return ref;
  }
  Variable forward(const Variable& x, ForwardContext& ctx) override;

 private:
  std::vector<Module*> layers_;
};

}  // namespace convlab::nn
