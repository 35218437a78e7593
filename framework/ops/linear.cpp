#include "framework/backend/backend.h"
#include "framework/ops/ops.h"

namespace convlab::ops {
namespace {

// Saves nothing: the backward reads the input and the weight from the recorded inputs.
struct LinearNode : Node {
  bool has_bias = false;
  const char* name() const override { return "linear"; }
  std::vector<Tensor> backward(const Tensor& grad_y) override {
    const Tensor& x = inputs[0]->value;
    const Tensor& w = inputs[1]->value;
    const Backend& be = backend(grad_y.device());
    std::vector<Tensor> grads(inputs.size());
    if (inputs[0]->requires_grad) {
      grads[0] = Tensor::empty(x.shape(), x.dtype(), x.device());
      be.linear_backward_data(w, grad_y, grads[0]);
    }
    if (inputs[1]->requires_grad) {
      grads[1] = Tensor::empty(w.shape(), w.dtype(), w.device());
      be.linear_backward_weight(x, grad_y, grads[1]);
    }
    if (has_bias && inputs[2]->requires_grad) {
      grads[2] = Tensor::empty(inputs[2]->value.shape(), w.dtype(), w.device());
      be.linear_backward_bias(grad_y, grads[2]);
    }
    return grads;
  }
};

}  // namespace

Variable linear(const Variable& x, const Variable& weight, const Variable* bias) {
  const Tensor& xv = x.value();
  const Tensor& wv = weight.value();
  CONVLAB_CHECK(xv.rank() == 2 && wv.rank() == 2 && xv.dim(1) == wv.dim(1),
                "linear: input {} and weight {} (want (N, in) and (out, in))", xv.describe(), wv.describe());
  check_same_device({&xv, &wv}, "linear");
  if (bias) check_same_device({&xv, &bias->value()}, "linear");
  auto node = std::make_shared<LinearNode>();
  node->has_bias = bias != nullptr;
  Tensor y = Tensor::empty({xv.dim(0), wv.dim(0)}, xv.dtype(), xv.device());
  backend(xv.device()).linear_forward(xv, wv, bias ? &bias->value() : nullptr, y);
  return make_result(std::move(y), std::move(node), {&x, &weight, bias});
}

}  // namespace convlab::ops
