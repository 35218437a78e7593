// What convlab-bench knows about a model's layers: every convolution with the size of the
// activations it reads (All-CNN-C and ResNet), and the forward FLOPs per image.
#pragma once

#include <vector>

#include "framework/nn/layers.h"
#include "framework/nn/model.h"

namespace convlab::bench {

struct ConvSite {
  nn::Conv2d* conv;
  int64_t in_size;  // the input is in_size x in_size for 32x32 images
  bool relu;        // a ReLU runs at its output size (all but ResNet's projection shortcuts)
  bool fused_relu;  // that ReLU is fused into the BatchNorm (ops::batchnorm2d_relu)
};

std::vector<ConvSite> conv_sites(nn::Model& model);

// Forward multiply-adds per image, times 2: every conv at its site, every linear layer.
double gflop_per_image(nn::Model& model);

}  // namespace convlab::bench
