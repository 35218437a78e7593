// All-CNN-C (Springenberg et al. 2015) at depth n, as the reference trains it: every conv is
// bias-free and followed by BatchNorm and ReLU (the last one too), global average pooling
// gives the logits. With batchnorm off it is the original paper's net: conv with bias and
// ReLU, no ReLU after the last conv.
//
//   block 0   dropout(dropout_input) on the image                    32x32x3
//   block 1a  (3n-1) x [3x3 conv width1, SAME]                      32x32x96
//   block 1b  3x3 conv width1, stride 2, SAME; dropout(hidden)       16x16x96
//   block 2a  (3n-1) x [3x3 conv width2, SAME]                      16x16x192
//   block 2b  3x3 conv width2, stride 2, SAME; dropout(hidden)       8x8x192
//   block 3a  (n-1) x [3x3 conv width2, SAME]                        8x8x192
//   block 3b  3x3 conv width2, VALID                                 6x6x192
//   block 4   1x1 conv width2                                        6x6x192
//   block 5   1x1 conv num_classes                                   6x6x10
//   pool      global average -> logits                               10
//
// Layers are named conv1..convL and bn1..bnL in order. Features (for CKA): the output of
// every conv block after its ReLU (after the dropout for 1b and 2b), then the logits.
// Initialisation: He-normal conv weights (std sqrt(2 / fan_in)) from the seed, conv bias 0,
// BN scale 1 and shift 0, running mean 0 and variance 1.
#pragma once

#include "framework/nn/layers.h"
#include "framework/nn/model.h"

namespace convlab::models {

// Depth 64 is 449 conv layers and about 100 million parameters: far beyond any use.
inline constexpr int kMaxAllCnnCDepth = 64;

struct AllCnnCOptions {
  int depth = 1;
  int num_classes = 10;
  double dropout_input = 0.0;
  double dropout_hidden = 0.0;
  bool batchnorm = true;
  int64_t width1 = 96;   // channels of blocks 1a/1b
  int64_t width2 = 192;  // channels of blocks 2a..4
  uint64_t seed = 0;
  DType dtype = DType::f32;
};

class AllCnnC : public nn::Model {
 public:
  explicit AllCnnC(const AllCnnCOptions& options);
  // The f32 values its parameters and buffers hold, counted without building it.
  static int64_t state_size(const AllCnnCOptions& options);
  Variable forward(const Variable& x, nn::ForwardContext& ctx) override;
  std::vector<std::string> feature_names() const override;
  std::string description() const override;
  void fold_batchnorm() override;
  void unfold_batchnorm() override;
  // The conv layers in order (for benchmarks and inspection).
  std::vector<nn::Conv2d*> convs() const;

 private:
  struct Layer {
    nn::Conv2d* conv;
    nn::BatchNorm2d* bn;  // null without batchnorm
    bool relu;
    bool dropout_after;
    std::string block;
  };
  AllCnnCOptions options_;
  std::vector<Layer> layers_;
  nn::Dropout* input_dropout_;
  nn::Dropout* hidden_dropout_1_;
  nn::Dropout* hidden_dropout_2_;
};

}  // namespace convlab::models
