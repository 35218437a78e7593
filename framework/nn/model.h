// A Model is a Module that classifies images and can report intermediate features.
#pragma once

#include <string>
#include <vector>

#include "framework/nn/module.h"

namespace convlab::nn {

class Model : public Module {
 public:
  // forward(x (N, 3, H, W), ctx) returns logits (N, classes); when ctx.features is set it
  // also appends one Variable per entry of feature_names(), in that order.
  virtual std::vector<std::string> feature_names() const = 0;
  virtual std::string description() const = 0;
};

}  // namespace convlab::nn
