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

  // Inference path: folds every BatchNorm into the convolution before it, from the running
  // statistics as they are now (BatchNorm2d::fold_into), so an eval-mode forward runs each
  // pair as one convolution with a bias. Training-mode forwards undo it. Models without
  // foldable pairs keep the default, which does nothing.
  virtual void fold_batchnorm() {}
  virtual void unfold_batchnorm() {}
};

}  // namespace convlab::nn
