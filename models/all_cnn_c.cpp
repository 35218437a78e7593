#include "models/all_cnn_c.h"

#include "framework/ops/ops.h"

namespace convlab::models {
namespace {

// One conv layer of the net, in order.
struct Plan {
  int64_t out, kernel, stride;
  Padding padding;
  bool dropout_after;
  std::string block;
};

std::vector<Plan> conv_plan(const AllCnnCOptions& o) {
  CONVLAB_CHECK(o.depth >= 1 && o.depth <= kMaxAllCnnCDepth, "All-CNN-C depth must be in 1..{}, got {}",
                kMaxAllCnnCDepth, o.depth);
  CONVLAB_CHECK(o.num_classes >= 1, "All-CNN-C needs num_classes >= 1, got {}", o.num_classes);
  std::vector<Plan> plan;
  for (int i = 0; i < 3 * o.depth - 1; ++i) plan.push_back({o.width1, 3, 1, Padding::same, false, "1a"});
  plan.push_back({o.width1, 3, 2, Padding::same, true, "1b"});
  for (int i = 0; i < 3 * o.depth - 1; ++i) plan.push_back({o.width2, 3, 1, Padding::same, false, "2a"});
  plan.push_back({o.width2, 3, 2, Padding::same, true, "2b"});
  for (int i = 0; i < o.depth - 1; ++i) plan.push_back({o.width2, 3, 1, Padding::same, false, "3a"});
  plan.push_back({o.width2, 3, 1, Padding::valid, false, "3b"});
  plan.push_back({o.width2, 1, 1, Padding::valid, false, "4"});
  plan.push_back({o.num_classes, 1, 1, Padding::valid, false, "5"});
  return plan;
}

}  // namespace

int64_t AllCnnC::state_size(const AllCnnCOptions& o) {
  int64_t values = 0, channels = 3;
  for (const Plan& p : conv_plan(o)) {
    values += p.out * channels * p.kernel * p.kernel + (o.batchnorm ? 4 * p.out : p.out);  // weight; BN or bias
    channels = p.out;
  }
  return values;
}

AllCnnC::AllCnnC(const AllCnnCOptions& o) : options_(o) {
  const std::vector<Plan> plan = conv_plan(o);
  input_dropout_ = &register_module("dropout_input", std::make_unique<nn::Dropout>(o.dropout_input, 0));
  int64_t channels = 3;
  for (size_t i = 0; i < plan.size(); ++i) {
    const Plan& p = plan[i];
    const std::string index = std::to_string(i + 1);
    nn::Conv2dOptions conv{channels, p.out, p.kernel, p.stride, p.padding, 0, /*bias=*/!o.batchnorm};
    Layer layer{};
    layer.conv = &register_module("conv" + index,
                                  std::make_unique<nn::Conv2d>(conv, o.seed, static_cast<uint32_t>(i + 1), o.dtype));
    if (o.batchnorm)
      layer.bn = &register_module("bn" + index, std::make_unique<nn::BatchNorm2d>(p.out, 1e-5, 0.1, o.dtype));
    layer.relu = o.batchnorm || i + 1 < plan.size();  // the paper's net has no ReLU on the logits
    layer.dropout_after = p.dropout_after;
    layer.block = p.block;
    layers_.push_back(layer);
    channels = p.out;
  }
  hidden_dropout_1_ = &register_module("dropout_hidden1", std::make_unique<nn::Dropout>(o.dropout_hidden, 1));
  hidden_dropout_2_ = &register_module("dropout_hidden2", std::make_unique<nn::Dropout>(o.dropout_hidden, 2));
}

Variable AllCnnC::forward(const Variable& x, nn::ForwardContext& ctx) {
  Variable h = input_dropout_->forward(x, ctx);
  int hidden_dropouts = 0;
  for (Layer& layer : layers_) {
    h = layer.conv->forward(h, ctx);
    if (layer.bn) {
      h = layer.relu ? layer.bn->forward_relu(h, ctx) : layer.bn->forward(h, ctx);
    } else if (layer.relu) {
      h = ops::relu(h);
    }
    if (layer.dropout_after) h = (hidden_dropouts++ == 0 ? hidden_dropout_1_ : hidden_dropout_2_)->forward(h, ctx);
    if (ctx.features) ctx.features->push_back(h);
  }
  Variable logits = ops::global_avg_pool(h);
  if (ctx.features) ctx.features->push_back(logits);
  return logits;
}

std::vector<std::string> AllCnnC::feature_names() const {
  std::vector<std::string> names;
  for (size_t i = 0; i < layers_.size(); ++i) names.push_back(fmt::format("conv{} ({})", i + 1, layers_[i].block));
  names.push_back("logits");
  return names;
}

void AllCnnC::fold_batchnorm() {
  for (Layer& layer : layers_)
    if (layer.bn) layer.bn->fold_into(*layer.conv);
}

void AllCnnC::unfold_batchnorm() {
  for (Layer& layer : layers_)
    if (layer.bn) layer.bn->unfold();
}

std::vector<nn::Conv2d*> AllCnnC::convs() const {
  std::vector<nn::Conv2d*> out;
  for (const Layer& layer : layers_) out.push_back(layer.conv);
  return out;
}

std::string AllCnnC::description() const {
  return fmt::format("All-CNN-C depth {} ({} conv layers, {}{})", options_.depth, layers_.size(),
                     options_.batchnorm ? "BatchNorm" : "no BatchNorm",
                     options_.dropout_input > 0 || options_.dropout_hidden > 0
                         ? fmt::format(", dropout {}/{}", options_.dropout_input, options_.dropout_hidden)
                         : "");
}

}  // namespace convlab::models
