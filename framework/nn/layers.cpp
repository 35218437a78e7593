#include "framework/nn/layers.h"

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
  return ops::conv2d(x, ops::convert(weight_, x.dtype(), x.value().format()), bias_, spec_);
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
  return ops::batchnorm2d(x, gamma_, beta_, running_mean_, running_var_, training(), eps_, momentum_);
}

Variable BatchNorm2d::forward_relu(const Variable& x, ForwardContext&) {
  return ops::batchnorm2d_relu(x, gamma_, beta_, running_mean_, running_var_, training(), eps_, momentum_);
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
