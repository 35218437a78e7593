#include "framework/nn/layers.h"

#include "framework/backend/backend.h"
#include "framework/nn/init.h"

namespace convlab::nn {

Conv2d::Conv2d(const Conv2dOptions& o, uint64_t seed, uint32_t init_id, DType dtype)
    : spec_{o.stride, o.padding, o.pad},
      weight_(register_parameter("weight", Tensor::empty({o.out_channels, o.in_channels, o.kernel, o.kernel}, dtype, cpu()))) {
  CONVLAB_CHECK(o.in_channels > 0 && o.out_channels > 0, "Conv2d needs channel counts, got {} -> {}", o.in_channels,
                o.out_channels);
  he_normal(weight_.mutable_value(), seed, init_id);
  if (o.bias) bias_ = &register_parameter("bias", Tensor::zeros({o.out_channels}, dtype, cpu()));
}

// The weight is the f32 master. A bf16 or channels_last input gets a working copy of it in its
// dtype and format: an explicit, recorded conversion, whose backward turns the gradient back
// into the master's dtype and layout. The bias stays f32.
Variable Conv2d::forward(const Variable& x, ForwardContext&) {
  if (!training() && folded()) {
    return ops::conv2d(x, ops::convert(folded_weight_, x.dtype(), x.value().format()), &folded_bias_, spec_);
  }
  return ops::conv2d(x, ops::convert(weight_, x.dtype(), x.value().format()), bias_, spec_);
}

void Conv2d::set_folded(Tensor weight, Tensor bias) {
  CONVLAB_CHECK(weight.shape() == weight_.shape() && bias.numel() == weight_.shape()[0],
                "Conv2d::set_folded: weight {} and bias {} for a weight {}", weight.describe(), bias.describe(),
                weight_.value().describe());
  folded_weight_ = Variable(std::move(weight));
  folded_bias_ = Variable(std::move(bias));
}

void Conv2d::clear_folded() {
  folded_weight_ = Variable();
  folded_bias_ = Variable();
}

Linear::Linear(const LinearOptions& o, uint64_t seed, uint32_t init_id, DType dtype)
    : weight_(register_parameter("weight", Tensor::empty({o.out_features, o.in_features}, dtype, cpu()))) {
  CONVLAB_CHECK(o.in_features > 0 && o.out_features > 0, "Linear needs feature counts, got {} -> {}", o.in_features,
                o.out_features);
  he_normal(weight_.mutable_value(), seed, init_id);
  if (o.bias) bias_ = &register_parameter("bias", Tensor::zeros({o.out_features}, dtype, cpu()));
}

Variable Linear::forward(const Variable& x, ForwardContext&) { return ops::linear(x, weight_, bias_); }

BatchNorm2d::BatchNorm2d(int64_t channels, double eps, double momentum, DType dtype)
    : eps_(eps),
      momentum_(momentum),
      gamma_(register_parameter("weight", Tensor::full({channels}, dtype, cpu(), 1.0))),
      beta_(register_parameter("bias", Tensor::zeros({channels}, dtype, cpu()))),
      running_mean_(register_buffer("running_mean", Tensor::zeros({channels}, dtype, cpu()))),
      running_var_(register_buffer("running_var", Tensor::full({channels}, dtype, cpu(), 1.0))) {}

Variable BatchNorm2d::forward(const Variable& x, ForwardContext&) {
  if (passes_through()) return x;
  return ops::batchnorm2d(x, gamma_, beta_, running_mean_, running_var_, training(), eps_, momentum_);
}

Variable BatchNorm2d::forward_relu(const Variable& x, ForwardContext&) {
  if (passes_through()) return ops::relu(x);
  return ops::batchnorm2d_relu(x, gamma_, beta_, running_mean_, running_var_, training(), eps_, momentum_);
}

void BatchNorm2d::fold_into(Conv2d& conv) {
  const Tensor& w = conv.weight().value();
  Tensor weight = Tensor::empty_like(w), bias = Tensor::empty({w.dim(0)}, w.dtype(), w.device());
  backend(w.device()).fold_batchnorm(w, conv.bias() ? &conv.bias()->value() : nullptr, gamma_.value(), beta_.value(),
                                     running_mean_, running_var_, eps_, weight, bias);
  conv.set_folded(std::move(weight), std::move(bias));
  folded_into_ = &conv;
}

void BatchNorm2d::unfold() {
  if (folded_into_) folded_into_->clear_folded();
  folded_into_ = nullptr;
}

bool BatchNorm2d::passes_through() {
  if (!folded_into_) return false;
  if (training()) {
    unfold();
    return false;
  }
  return true;
}

Variable Dropout::forward(const Variable& x, ForwardContext& ctx) {
  if (!training() || p_ == 0) return x;
  RandomKey key{ctx.seed, random_stream::kDropout + layer_, ctx.step};
  if (ctx.step_counter) key.step_source = ctx.step_counter->data<int32_t>();
  return ops::dropout(x, p_, key);
}

Variable Sequential::forward(const Variable& x, ForwardContext& ctx) {
  Variable h = x;
  for (Module* layer : layers_) h = layer->forward(h, ctx);
  return h;
}

}  // namespace convlab::nn
