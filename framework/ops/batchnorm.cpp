#include "framework/backend/backend.h"
#include "framework/ops/ops.h"

namespace convlab::ops {
namespace {

struct BatchNormNode : Node {
  Tensor saved_mean, saved_inv_std;  // (C)
  bool relu = false;                 // a ReLU was fused in: its output (this node's) gates the gradient
  const char* name() const override { return relu ? "batchnorm2d_relu" : "batchnorm2d"; }
  std::vector<Tensor> backward(const Tensor& grad_y) override {
    const Tensor& x = inputs[0]->value;
    const Tensor& gamma = inputs[1]->value;
    std::vector<Tensor> grads(3);
    grads[0] = Tensor::empty_like(x);
    grads[1] = Tensor::empty(gamma.shape(), gamma.dtype(), gamma.device());
    grads[2] = Tensor::empty(gamma.shape(), gamma.dtype(), gamma.device());
    backend(x.device()).batchnorm_backward(x, relu ? &output_value() : nullptr, gamma, saved_mean, saved_inv_std,
                                           grad_y, grads[0], grads[1], grads[2]);
    return grads;
  }
};

// Gradients through evaluation mode are not needed for training or analysis.
struct BatchNormEvalNode : Node {
  const char* name() const override { return "batchnorm2d (eval)"; }
  std::vector<Tensor> backward(const Tensor&) override {
    CONVLAB_FAIL("backward through batchnorm2d in evaluation mode is not supported: call train() first");
  }
};

Variable batchnorm(const Variable& x, const Variable& gamma, const Variable& beta, Tensor& running_mean,
                   Tensor& running_var, bool training, double eps, double momentum, bool relu) {
  const Tensor& xv = x.value();
  CONVLAB_CHECK(xv.rank() == 4, "batchnorm2d: input {} must be (N, C, H, W)", xv.describe());
  check_same_device({&xv, &gamma.value(), &beta.value(), &running_mean, &running_var}, "batchnorm2d");
  Tensor y = Tensor::empty_like(xv);
  const Backend& be = backend(xv.device());
  if (!training) {
    be.batchnorm_forward_eval(xv, gamma.value(), beta.value(), running_mean, running_var, eps, relu, y);
    return make_result(std::move(y), std::make_shared<BatchNormEvalNode>(), {&x, &gamma, &beta});
  }
  auto node = std::make_shared<BatchNormNode>();
  node->relu = relu;
  // Statistics in the parameters' dtype (f32 for bf16 activations).
  node->saved_mean = Tensor::empty({xv.dim(1)}, gamma.dtype(), xv.device());
  node->saved_inv_std = Tensor::empty({xv.dim(1)}, gamma.dtype(), xv.device());
  be.batchnorm_forward_train(xv, gamma.value(), beta.value(), eps, momentum, relu, y, node->saved_mean,
                             node->saved_inv_std, running_mean, running_var);
  return make_result(std::move(y), std::move(node), {&x, &gamma, &beta});
}

}  // namespace

Variable batchnorm2d(const Variable& x, const Variable& gamma, const Variable& beta, Tensor& running_mean,
                     Tensor& running_var, bool training, double eps, double momentum) {
  return batchnorm(x, gamma, beta, running_mean, running_var, training, eps, momentum, false);
}

Variable batchnorm2d_relu(const Variable& x, const Variable& gamma, const Variable& beta, Tensor& running_mean,
                          Tensor& running_var, bool training, double eps, double momentum) {
  return batchnorm(x, gamma, beta, running_mean, running_var, training, eps, momentum, true);
}

}  // namespace convlab::ops
