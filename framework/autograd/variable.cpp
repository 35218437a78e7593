#include "framework/autograd/variable.h"

#include <unordered_set>

#include "framework/backend/backend.h"

namespace convlab {
namespace {
thread_local bool recording = true;
}  // namespace

bool grad_enabled() { return recording; }
NoGradGuard::NoGradGuard() : previous_(recording) { recording = false; }
NoGradGuard::~NoGradGuard() { recording = previous_; }

Variable::Variable(Tensor value, bool requires_grad) : data_(std::make_shared<VariableData>()) {
  data_->value = std::move(value);
  data_->requires_grad = requires_grad;
}

void Variable::zero_grad() { data_->grad = Tensor(); }

Variable make_result(Tensor value, std::shared_ptr<Node> node, std::initializer_list<const Variable*> inputs) {
  bool needs_grad = false;
  for (const Variable* input : inputs) needs_grad |= input && input->defined() && input->requires_grad();
  Variable result(std::move(value), needs_grad && recording);
  if (result.requires_grad()) {
    for (const Variable* input : inputs)
      node->inputs.push_back(input && input->defined() ? input->data() : nullptr);
    node->output = result.data();
    result.data()->grad_fn = std::move(node);
  }
  return result;
}

const Tensor& Node::output_value() const {
  const std::shared_ptr<VariableData> out = output.lock();
  CONVLAB_CHECK(out != nullptr, "{}: its output was destroyed before backward", name());
  return out->value;
}

namespace {

// Adds `grad` into target->grad (taking it over if there is none yet).
void accumulate(VariableData& target, Tensor grad) {
  if (!target.grad.defined()) {
    target.grad = std::move(grad);
    return;
  }
  check_same_shape(target.grad, grad, "gradient accumulation");
  backend(grad.device()).axpy(1.0, grad, target.grad);
}

// Post-order DFS from `root`: every variable appears after all variables computed from it
// have been listed, so the reverse order visits a variable after all its consumers. The
// list holds the variables alive while their nodes are freed one by one.
std::vector<std::shared_ptr<VariableData>> topological_order(const std::shared_ptr<VariableData>& root) {
  std::vector<std::shared_ptr<VariableData>> order;
  std::unordered_set<VariableData*> seen{root.get()};
  std::vector<std::pair<std::shared_ptr<VariableData>, size_t>> stack{{root, 0}};
  while (!stack.empty()) {
    const Node* node = stack.back().first->grad_fn.get();
    size_t& next = stack.back().second;
    if (node && next < node->inputs.size()) {
      const std::shared_ptr<VariableData>& child = node->inputs[next++];
      if (child && child->requires_grad && seen.insert(child.get()).second) stack.push_back({child, 0});
      continue;
    }
    order.push_back(std::move(stack.back().first));
    stack.pop_back();
  }
  return order;
}

}  // namespace

int64_t count_graph_nodes(const Variable& root) {
  if (!root.defined() || !root.requires_grad()) return 0;
  int64_t nodes = 0;
  for (const auto& var : topological_order(root.data())) nodes += var->grad_fn != nullptr;
  return nodes;
}

void Variable::backward() {
  CONVLAB_CHECK(requires_grad(), "backward() of a value that does not require a gradient");
  CONVLAB_CHECK(value().numel() == 1, "backward() needs a scalar, got {}", value().describe());
  CONVLAB_CHECK(!data_->graph_released, "backward() a second time through a graph that the first one freed: "
                "run the forward pass again");
  accumulate(*data_, Tensor::full(value().shape(), value().dtype(), value().device(), 1.0));
  const std::vector<std::shared_ptr<VariableData>> order = topological_order(data_);
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    VariableData* var = it->get();
    if (!var->grad_fn) continue;  // a leaf: its gradient stays
    std::shared_ptr<Node> node = std::move(var->grad_fn);
    var->graph_released = true;
    std::vector<Tensor> grads = node->backward(var->grad);
    var->grad = Tensor();  // intermediate gradients are not kept
    CONVLAB_CHECK(grads.size() == node->inputs.size(), "{} returned {} gradients for {} inputs", node->name(),
                  grads.size(), node->inputs.size());
    for (size_t i = 0; i < grads.size(); ++i) {
      VariableData* input = node->inputs[i].get();
      if (input && input->requires_grad && grads[i].defined()) accumulate(*input, std::move(grads[i]));
    }
  }
}

}  // namespace convlab
