#include "framework/backend/backend.h"
#include "framework/ops/ops.h"

namespace convlab::ops {
namespace {

struct Conv2dNode : Node {
  ConvGeometry geometry;
  bool has_bias = false;
  const char* name() const override { return "conv2d"; }
  std::vector<Tensor> backward(const Tensor& grad_y) override {
    const Tensor& x = inputs[0]->value;
    const Tensor& w = inputs[1]->value;
    const Backend& be = backend(grad_y.device());
    std::vector<Tensor> grads(inputs.size());
    if (inputs[0]->requires_grad) {
      grads[0] = Tensor::empty_like(x);
      be.conv2d_backward_data(w, grad_y, grads[0], geometry);
    }
    if (inputs[1]->requires_grad) {
      grads[1] = Tensor::empty_like(w);
      be.conv2d_backward_filter(x, grad_y, grads[1], geometry);
    }
    if (has_bias && inputs[2]->requires_grad) {
      grads[2] = Tensor::empty_like(inputs[2]->value);  // f32 (the bias stays f32 for bf16 data)
      be.conv2d_backward_bias(grad_y, grads[2]);
    }
    return grads;
  }
};

}  // namespace

Variable conv2d(const Variable& x, const Variable& weight, const Variable* bias, const ConvSpec& spec) {
  const Tensor& xv = x.value();
  const Tensor& wv = weight.value();
  CONVLAB_CHECK(xv.rank() == 4 && wv.rank() == 4 && xv.dim(1) == wv.dim(1),
                "conv2d: input {} and weight {} (want (N, C, H, W) and (K, C, R, S))", xv.describe(), wv.describe());
  check_same_device({&xv, &wv}, "conv2d");
  auto node = std::make_shared<Conv2dNode>();
  node->geometry = ConvGeometry::make(xv.dim(0), xv.dim(1), xv.dim(2), xv.dim(3), wv.dim(0), wv.dim(2), wv.dim(3),
                                      spec.stride, spec.padding, spec.pad);
  node->has_bias = bias != nullptr;
  const ConvGeometry& g = node->geometry;
  Tensor y = Tensor::empty({g.batch, g.out_channels, g.out_h, g.out_w}, xv.dtype(), xv.device(), xv.format());
  backend(xv.device()).conv2d_forward(xv, wv, bias ? &bias->value() : nullptr, y, g);
  return make_result(std::move(y), std::move(node), {&x, &weight, bias});
}

}  // namespace convlab::ops
