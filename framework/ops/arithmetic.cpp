// Small ops the models and losses need: add, mul, scale, sums, reshape.
#include "framework/backend/backend.h"
#include "framework/ops/ops.h"

namespace convlab::ops {
namespace {

Tensor empty_like(const Tensor& t) { return Tensor::empty_like(t); }

struct AddNode : Node {
  const char* name() const override { return "add"; }
  std::vector<Tensor> backward(const Tensor& g) override {
    std::vector<Tensor> grads;
    grads.push_back(g.clone());
    grads.push_back(g.clone());
    return grads;
  }
};

struct MulNode : Node {
  const char* name() const override { return "mul"; }
  std::vector<Tensor> backward(const Tensor& g) override {
    std::vector<Tensor> grads(2);
    const Backend& be = backend(g.device());
    for (int i = 0; i < 2; ++i) {
      if (!inputs[i]->requires_grad) continue;
      grads[i] = empty_like(g);
      be.mul(g, inputs[1 - i]->value, grads[i]);
    }
    return grads;
  }
};

// d sum(x) / dx = 1: grad_x = g[0] everywhere.
struct SumNode : Node {
  const char* name() const override { return "sum"; }
  std::vector<Tensor> backward(const Tensor& g) override {
    const Tensor& x = inputs[0]->value;
    const Tensor ones = Tensor::full(x.shape(), x.dtype(), x.device(), 1.0);
    std::vector<Tensor> grads(1);
    grads[0] = empty_like(x);
    backend(g.device()).scale_by(ones, g, 1.0, grads[0]);
    return grads;
  }
};

// d sum(x^2) / dx = 2 x.
struct SumSquaresNode : Node {
  const char* name() const override { return "sum_squares"; }
  std::vector<Tensor> backward(const Tensor& g) override {
    const Tensor& x = inputs[0]->value;
    std::vector<Tensor> grads(1);
    grads[0] = empty_like(x);
    backend(g.device()).scale_by(x, g, 2.0, grads[0]);
    return grads;
  }
};

struct ScaleNode : Node {
  double alpha = 1;
  const char* name() const override { return "scale"; }
  std::vector<Tensor> backward(const Tensor& g) override {
    std::vector<Tensor> grads(1);
    grads[0] = Tensor::empty_like(g);
    backend(g.device()).fill(grads[0], 0.0);
    backend(g.device()).axpy(alpha, g, grads[0]);
    return grads;
  }
};

struct ConvertNode : Node {
  DType input_dtype = DType::f32;
  MemoryFormat input_format = MemoryFormat::contiguous;
  const char* name() const override { return "convert"; }
  std::vector<Tensor> backward(const Tensor& g) override {
    std::vector<Tensor> grads(1);
    grads[0] = Tensor::empty(g.shape(), input_dtype, g.device(), input_format);
    backend(g.device()).convert(g, grads[0]);
    return grads;
  }
};

struct ReshapeNode : Node {
  Shape input_shape;
  MemoryFormat input_format = MemoryFormat::contiguous;
  const char* name() const override { return "reshape"; }
  std::vector<Tensor> backward(const Tensor& g) override {
    std::vector<Tensor> grads;
    if (input_format == MemoryFormat::contiguous) {
      grads.push_back(g.clone().reshaped(input_shape));
    } else {  // the flattened rows were the input's memory order: the same bytes, channels_last again
      grads.push_back(Tensor::empty(input_shape, g.dtype(), g.device(), input_format));
      copy_bytes(grads[0].raw(), g.device(), g.raw(), g.device(), g.nbytes());
    }
    return grads;
  }
};

}  // namespace

Variable add(const Variable& a, const Variable& b) {
  Tensor out = empty_like(a.value());
  backend(a.device()).add(a.value(), b.value(), out);
  return make_result(std::move(out), std::make_shared<AddNode>(), {&a, &b});
}

Variable mul(const Variable& a, const Variable& b) {
  Tensor out = empty_like(a.value());
  backend(a.device()).mul(a.value(), b.value(), out);
  return make_result(std::move(out), std::make_shared<MulNode>(), {&a, &b});
}

Variable scale(const Variable& x, double alpha) {
  Tensor out = Tensor::empty_like(x.value());
  backend(x.device()).fill(out, 0.0);
  backend(x.device()).axpy(alpha, x.value(), out);
  auto node = std::make_shared<ScaleNode>();
  node->alpha = alpha;
  return make_result(std::move(out), std::move(node), {&x});
}

Variable sum(const Variable& x) {
  Tensor out = Tensor::empty({1}, x.dtype(), x.device());
  backend(x.device()).sum(x.value(), out);
  return make_result(std::move(out), std::make_shared<SumNode>(), {&x});
}

Variable sum_squares(const Variable& x) {
  Tensor out = Tensor::empty({1}, x.dtype(), x.device());
  backend(x.device()).sum_squares(x.value(), out);
  return make_result(std::move(out), std::make_shared<SumSquaresNode>(), {&x});
}

Variable reshape(const Variable& x, Shape shape) {
  auto node = std::make_shared<ReshapeNode>();
  node->input_shape = x.shape();
  node->input_format = x.value().format();
  return make_result(x.value().clone().reshaped(std::move(shape)), std::move(node), {&x});
}

Variable convert(const Variable& x, DType dtype, MemoryFormat format) {
  if (x.dtype() == dtype && x.value().format() == format) return x;
  Tensor y = Tensor::empty(x.shape(), dtype, x.device(), format);
  backend(x.device()).convert(x.value(), y);
  auto node = std::make_shared<ConvertNode>();
  node->input_dtype = x.dtype();
  node->input_format = x.value().format();
  return make_result(std::move(y), std::move(node), {&x});
}

Variable flatten(const Variable& x) {
  const int64_t batch = x.shape()[0];
  return reshape(x, Shape({batch, x.value().numel() / std::max<int64_t>(batch, 1)}));
}

}  // namespace convlab::ops
