#include "framework/nn/module.h"

namespace convlab::nn {

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

std::vector<std::pair<std::string, Variable*>> Module::named_parameters() {
  std::vector<std::pair<std::string, Variable*>> out;
  for (auto& [name, param] : parameters_) out.emplace_back(name, &param);
  for (auto& [prefix, child] : children_)
    for (auto& [name, param] : child->named_parameters()) out.emplace_back(prefix + "." + name, param);
  return out;
}

std::vector<std::pair<std::string, Tensor*>> Module::named_buffers() {
  std::vector<std::pair<std::string, Tensor*>> out;
  for (auto& [name, buffer] : buffers_) out.emplace_back(name, &buffer);
  for (auto& [prefix, child] : children_)
    for (auto& [name, buffer] : child->named_buffers()) out.emplace_back(prefix + "." + name, buffer);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out;
  for (auto& [prefix, child] : children_) {
    out.emplace_back(prefix, child.get());
    for (auto& [name, module] : child->named_modules()) out.emplace_back(prefix + "." + name, module);
  }
  return out;
}

std::vector<Variable*> Module::parameters() {
  std::vector<Variable*> out;
  for (auto& [name, param] : named_parameters()) out.push_back(param);
  return out;
}

int64_t Module::parameter_count() {
  int64_t total = 0;
  for (Variable* p : parameters()) total += p->value().numel();
  return total;
}

void Module::zero_grad() {
  for (Variable* p : parameters()) p->zero_grad();
}

void Module::to(Device device) {
  for (auto& [name, param] : named_parameters()) {
    param->mutable_value() = param->value().to(device);
    param->zero_grad();
  }
  for (auto& [name, buffer] : named_buffers()) *buffer = buffer->to(device);
}

Variable& Module::register_parameter(std::string name, Tensor value) {
  parameters_.emplace_back(std::move(name), Variable(std::move(value), /*requires_grad=*/true));
  return parameters_.back().second;
}

Tensor& Module::register_buffer(std::string name, Tensor value) {
  buffers_.emplace_back(std::move(name), std::move(value));
  return buffers_.back().second;
}

}  // namespace convlab::nn
