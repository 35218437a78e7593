#include "framework/backend/backend.h"
#include "framework/ops/ops.h"

namespace convlab::ops {
namespace {

// The output decides where the gradient passes, so nothing extra is saved.
struct ReluNode : Node {
  const char* name() const override { return "relu"; }
  std::vector<Tensor> backward(const Tensor& grad_y) override {
    const Tensor& y = output_value();
    std::vector<Tensor> grads(1);
    grads[0] = Tensor::empty_like(y);
    backend(y.device()).relu_backward(y, grad_y, grads[0]);
    return grads;
  }
};

struct DropoutNode : Node {
  double p = 0;
  RandomKey key{};  // the mask is redrawn from the key, not stored
  const char* name() const override { return "dropout"; }
  std::vector<Tensor> backward(const Tensor& grad_y) override {
    std::vector<Tensor> grads(1);
    grads[0] = Tensor::empty_like(grad_y);
    backend(grad_y.device()).dropout_backward(grad_y, p, key, grads[0]);
    return grads;
  }
};

}  // namespace

Variable relu(const Variable& x) {
  Tensor y = Tensor::empty_like(x.value());
  backend(x.device()).relu_forward(x.value(), y);
  return make_result(std::move(y), std::make_shared<ReluNode>(), {&x});
}

Variable dropout(const Variable& x, double p, RandomKey key) {
  CONVLAB_CHECK(p >= 0 && p < 1, "dropout probability {} is outside [0, 1)", p);
  if (p == 0) return x;
  Tensor y = Tensor::empty_like(x.value());
  backend(x.device()).dropout_forward(x.value(), p, key, y);
  auto node = std::make_shared<DropoutNode>();
  node->p = p;
  node->key = key;
  return make_result(std::move(y), std::move(node), {&x});
}

}  // namespace convlab::ops
