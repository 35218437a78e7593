// ResNet for CIFAR-10 (He et al. 2016, "Deep Residual Learning for Image Recognition",
// section 4.2): 6n + 2 weighted layers; n = 3 is ResNet-20.
//
//   stem      3x3 conv 16, BN, ReLU                                      32x32x16
//   layer1    n basic blocks, 16 channels                                32x32x16
//   layer2    n basic blocks, 32 channels, the first with stride 2       16x16x32
//   layer3    n basic blocks, 64 channels, the first with stride 2       8x8x64
//   pool      global average                                             64
//   fc        linear 64 -> num_classes, with bias                        num_classes
//
// A basic block: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), both convs 3x3 and
// bias-free. The shortcut is the identity where the shape is kept, and a 1x1 conv with stride
// 2 plus BN (the paper's option B) where the block halves the size and widens.
//
// Padding: every 3x3 conv pads 1 on every side (PyTorch's ResNets), not XLA SAME; for the
// stride-2 convs on even sizes this centres the window (SAME would pad 0 before and 1 after),
// and cuDNN takes symmetric padding without a padded copy of the input.
//
// Names follow torchvision: conv1, bn1, layer{1,2,3}.{0..n-1}.{conv1,bn1,conv2,bn2},
// layer{2,3}.0.downsample.{0 (conv), 1 (BN)}, fc.
// Features (for CKA), in order: "stem" (after the stem's ReLU), "layerS.B" (each block's
// output, after its final ReLU), "pool" (the pooled 64 features) and "logits": 3n + 3 in all.
// Initialisation: He-normal conv and fc weights (std sqrt(2 / fan_in)) from the seed, fc bias
// 0, BN scale 1 and shift 0.
//
// ResNet-20 has 272,474 parameters (tests/test_resnet.cpp counts them by hand).
#pragma once

#include "framework/nn/layers.h"
#include "framework/nn/model.h"

namespace convlab::models {

struct ResNetOptions {
  int blocks_per_stage = 3;  // n: ResNet-(6n + 2)
  int num_classes = 10;
  int64_t width = 16;        // channels of the stem and layer1; layer2 and layer3 double it each
  uint64_t seed = 0;
  DType dtype = DType::f32;
};

class ResNet : public nn::Model {
 public:
  explicit ResNet(const ResNetOptions& options);
  // The f32 values its parameters and buffers hold, counted without building it.
  static int64_t state_size(const ResNetOptions& options);
  Variable forward(const Variable& x, nn::ForwardContext& ctx) override;
  std::vector<std::string> feature_names() const override;
  std::string description() const override;
  void fold_batchnorm() override;
  void unfold_batchnorm() override;

  // A conv layer with the size of the image it reads, in the order the forward runs them
  // (for benchmarks and inspection).
  struct ConvSite {
    nn::Conv2d* conv;
    int64_t in_size;  // the input is in_size x in_size for 32x32 images
    bool shortcut;    // a projection; every other conv's output (or its sum with the shortcut) meets a ReLU
    bool fused_relu;  // its BatchNorm and ReLU run as one op (the stem and each block's first conv)
  };
  std::vector<ConvSite> conv_sites() const;

 private:
  class BasicBlock;
  ResNetOptions options_;
  nn::Conv2d* stem_conv_;
  nn::BatchNorm2d* stem_bn_;
  std::vector<BasicBlock*> blocks_;
  std::vector<std::string> block_names_;
  nn::Linear* fc_;
};

}  // namespace convlab::models
