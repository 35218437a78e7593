// Reverse-mode autograd. A Variable is a shared handle to a value and, after backward(),
// its gradient. Each op that sees an input requiring a gradient records a Node that holds
// what its backward needs; backward() walks the nodes in reverse topological order and
// frees them, so the graph lives exactly from one forward to its backward.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "framework/core/tensor.h"

namespace convlab {

struct Node;

struct VariableData {
  Tensor value;
  Tensor grad;                  // empty until a gradient arrives
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;  // the op that made this value; null for leaves
  bool graph_released = false;    // a backward already went through (and freed) grad_fn
};

class Variable {
 public:
  Variable() = default;
  explicit Variable(Tensor value, bool requires_grad = false);

  bool defined() const { return data_ != nullptr; }
  const Tensor& value() const { return data_->value; }
  Tensor& mutable_value() { return data_->value; }
  const Tensor& grad() const { return data_->grad; }
  Tensor& mutable_grad() { return data_->grad; }
  bool requires_grad() const { return data_->requires_grad; }
  bool is_leaf() const { return data_->grad_fn == nullptr; }
  const Shape& shape() const { return data_->value.shape(); }
  Device device() const { return data_->value.device(); }
  DType dtype() const { return data_->value.dtype(); }

  // Sets d(this)/d(this) = 1 (this must have one element) and propagates to every leaf
  // that requires a gradient, adding to the gradients already there.
  void backward();
  void zero_grad();  // drops the gradient (the next backward starts from zero)

  const std::shared_ptr<VariableData>& data() const { return data_; }

 private:
  std::shared_ptr<VariableData> data_;
};

// One recorded op. backward() receives the gradient of the op's output and returns one
// gradient per input (an empty Tensor where an input needs none).
struct Node {
  virtual ~Node() = default;
  virtual std::vector<Tensor> backward(const Tensor& grad_output) = 0;
  virtual const char* name() const = 0;
  std::vector<std::shared_ptr<VariableData>> inputs;
  std::weak_ptr<VariableData> output;  // weak: the output owns the node
  // The op's output value, for backwards that need it (ReLU).
  const Tensor& output_value() const;
};

// Whether ops record graphs on this thread. NoGradGuard turns recording off for a scope
// (evaluation, feature extraction); the flag is per thread and restored on exit.
bool grad_enabled();
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// The recorded ops (Nodes) that root's backward would run: the size of a step's graph.
int64_t count_graph_nodes(const Variable& root);

// Makes the output Variable of an op: records `node` with `inputs` when recording is on
// and some input requires a gradient; otherwise the node is dropped.
Variable make_result(Tensor value, std::shared_ptr<Node> node, std::initializer_list<const Variable*> inputs);

}  // namespace convlab
