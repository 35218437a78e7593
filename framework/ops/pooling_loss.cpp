#include "framework/backend/backend.h"
#include "framework/ops/ops.h"

namespace convlab::ops {
namespace {

struct GlobalAvgPoolNode : Node {
  Shape input_shape;
  DType input_dtype = DType::f32;
  MemoryFormat input_format = MemoryFormat::contiguous;
  const char* name() const override { return "global_avg_pool"; }
  std::vector<Tensor> backward(const Tensor& grad_y) override {
    std::vector<Tensor> grads(1);
    grads[0] = Tensor::empty(input_shape, input_dtype, grad_y.device(), input_format);
    backend(grad_y.device()).global_avg_pool_backward(grad_y, grads[0]);
    return grads;
  }
};

struct SoftmaxXentNode : Node {
  Tensor probs;   // (N, K)
  Tensor labels;  // (N) i32
  const char* name() const override { return "softmax_cross_entropy"; }
  std::vector<Tensor> backward(const Tensor& grad_loss) override {
    std::vector<Tensor> grads(1);
    grads[0] = Tensor::empty(probs.shape(), probs.dtype(), probs.device());
    backend(probs.device()).softmax_xent_backward(probs, labels, grad_loss, grads[0]);
    return grads;
  }
};

}  // namespace

Variable global_avg_pool(const Variable& x) {
  CONVLAB_CHECK(x.value().rank() == 4, "global_avg_pool: input {} must be (N, C, H, W)", x.value().describe());
  // The pooled values are f32 for bf16 activations: the loss and what follows stay in float.
  const DType out_dtype = x.dtype() == DType::bf16 ? DType::f32 : x.dtype();
  Tensor y = Tensor::empty({x.shape()[0], x.shape()[1]}, out_dtype, x.device());
  backend(x.device()).global_avg_pool_forward(x.value(), y);
  auto node = std::make_shared<GlobalAvgPoolNode>();
  node->input_shape = x.shape();
  node->input_dtype = x.dtype();
  node->input_format = x.value().format();
  return make_result(std::move(y), std::move(node), {&x});
}

Variable softmax_cross_entropy(const Variable& logits, const Tensor& labels) {
  const Tensor& lv = logits.value();
  CONVLAB_CHECK(lv.rank() == 2 && labels.dtype() == DType::i32 && labels.rank() == 1 && labels.dim(0) == lv.dim(0),
                "softmax_cross_entropy: logits {} and labels {} (want (N, K) and (N) i32)", lv.describe(),
                labels.describe());
  check_same_device({&lv, &labels}, "softmax_cross_entropy");
  auto node = std::make_shared<SoftmaxXentNode>();
  node->probs = Tensor::empty(lv.shape(), lv.dtype(), lv.device());
  Tensor loss = Tensor::empty({1}, lv.dtype(), lv.device());
  backend(lv.device()).softmax_xent_forward(lv, labels, loss, node->probs);
  if (grad_enabled() && logits.requires_grad()) node->labels = labels.clone();
  return make_result(std::move(loss), std::move(node), {&logits});
}

}  // namespace convlab::ops
