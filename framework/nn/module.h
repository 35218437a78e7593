// Module: named parameters (trainable Variables), named buffers (state that is saved but
// not trained, e.g. BatchNorm running statistics), child modules, and a training flag.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "framework/autograd/variable.h"

namespace convlab::nn {

// What a forward pass needs besides its input.
struct ForwardContext {
  uint64_t seed = 0;  // keys the dropout masks together with `step`
  uint32_t step = 0;  // the training step
  // When set, a one-element i32 tensor on the model's device that holds the step; dropout
  // reads it there, so a captured CUDA graph draws new masks on every replay.
  const Tensor* step_counter = nullptr;
  // When set, the model appends the activations it reports as features (for CKA).
  std::vector<Variable>* features = nullptr;
};

class Module {
 public:
  virtual ~Module() = default;
  virtual Variable forward(const Variable& x, ForwardContext& ctx) = 0;

  void train(bool on = true);
  void eval() { train(false); }
  bool training() const { return training_; }

  // Depth-first, in registration order, with dotted names ("conv1.weight").
  std::vector<std::pair<std::string, Variable*>> named_parameters();
  std::vector<std::pair<std::string, Tensor*>> named_buffers();
  // Every module below this one (not this one), depth-first, with dotted names ("layer1.0.conv1").
  std::vector<std::pair<std::string, Module*>> named_modules();
  std::vector<Variable*> parameters();
  int64_t parameter_count();
  void zero_grad();
  // Moves every parameter and buffer to `device` (an explicit copy of each).
  void to(Device device);

 protected:
  Variable& register_parameter(std::string name, Tensor value);
  Tensor& register_buffer(std::string name, Tensor value);
  template <class M>
  M& register_module(std::string name, std::unique_ptr<M> module) {
    M& ref = *module;
    children_.emplace_back(std::move(name), std::move(module));
    return ref;
  }

 private:
  bool training_ = true;
  std::deque<std::pair<std::string, Variable>> parameters_;  // deque: references stay valid
  std::deque<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::unique_ptr<Module>>> children_;
};

}  // namespace convlab::nn
