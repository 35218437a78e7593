#include "models/resnet.h"

#include "framework/ops/ops.h"

namespace convlab::models {
namespace {

nn::Conv2dOptions conv3x3(int64_t in, int64_t out, int64_t stride) {
  return {in, out, 3, stride, Padding::explicit_, 1, /*bias=*/false};
}

}  // namespace

// conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU.
class ResNet::BasicBlock : public nn::Module {
 public:
  BasicBlock(int64_t in, int64_t out, int64_t stride, const ResNetOptions& o, uint32_t& init_id)
      : conv1_(&register_module("conv1", std::make_unique<nn::Conv2d>(conv3x3(in, out, stride), o.seed, init_id++, o.dtype))),
        bn1_(&register_module("bn1", std::make_unique<nn::BatchNorm2d>(out, 1e-5, 0.1, o.dtype))),
        conv2_(&register_module("conv2", std::make_unique<nn::Conv2d>(conv3x3(out, out, 1), o.seed, init_id++, o.dtype))),
        bn2_(&register_module("bn2", std::make_unique<nn::BatchNorm2d>(out, 1e-5, 0.1, o.dtype))) {
    if (stride == 1 && in == out) return;  // identity shortcut
    downsample_ = &register_module("downsample", std::make_unique<nn::Sequential>());
    const nn::Conv2dOptions projection{in, out, 1, stride, Padding::valid, 0, /*bias=*/false};
    shortcut_conv_ = &downsample_->add(std::make_unique<nn::Conv2d>(projection, o.seed, init_id++, o.dtype));
    shortcut_bn_ = &downsample_->add(std::make_unique<nn::BatchNorm2d>(out, 1e-5, 0.1, o.dtype));
  }

  void fold_batchnorm() {
    bn1_->fold_into(*conv1_);
    bn2_->fold_into(*conv2_);
    if (shortcut_bn_) shortcut_bn_->fold_into(*shortcut_conv_);
  }
  void unfold_batchnorm() {
    for (nn::BatchNorm2d* bn : {bn1_, bn2_, shortcut_bn_})
      if (bn) bn->unfold();
  }

  Variable forward(const Variable& x, nn::ForwardContext& ctx) override {
    Variable h = bn1_->forward_relu(conv1_->forward(x, ctx), ctx);
    h = bn2_->forward(conv2_->forward(h, ctx), ctx);
    return ops::relu(ops::add(h, downsample_ ? downsample_->forward(x, ctx) : x));
  }

  nn::Conv2d* conv1() const { return conv1_; }
  nn::Conv2d* conv2() const { return conv2_; }
  nn::Conv2d* shortcut_conv() const { return shortcut_conv_; }  // null for the identity

 private:
  nn::Conv2d* conv1_;
  nn::BatchNorm2d* bn1_;
  nn::Conv2d* conv2_;
  nn::BatchNorm2d* bn2_;
  nn::Sequential* downsample_ = nullptr;
  nn::Conv2d* shortcut_conv_ = nullptr;
  nn::BatchNorm2d* shortcut_bn_ = nullptr;
};

int64_t ResNet::state_size(const ResNetOptions& o) {
  const auto conv = [](int64_t in, int64_t out, int64_t k) { return in * out * k * k; };
  const auto bn = [](int64_t channels) { return 4 * channels; };  // weight, bias, running mean and variance
  int64_t values = conv(3, o.width, 3) + bn(o.width);
  int64_t channels = o.width;
  for (int stage = 0; stage < 3; ++stage) {
    const int64_t width = o.width << stage;
    for (int b = 0; b < o.blocks_per_stage; ++b) {
      values += conv(channels, width, 3) + bn(width) + conv(width, width, 3) + bn(width);
      const int64_t stride = stage > 0 && b == 0 ? 2 : 1;
      if (stride != 1 || channels != width) values += conv(channels, width, 1) + bn(width);  // projection
      channels = width;
    }
  }
  return values + channels * o.num_classes + o.num_classes;  // fc
}

ResNet::ResNet(const ResNetOptions& o) : options_(o) {
  CONVLAB_CHECK(o.blocks_per_stage >= 1, "ResNet needs blocks_per_stage >= 1, got {}", o.blocks_per_stage);
  CONVLAB_CHECK(o.num_classes >= 1, "ResNet needs num_classes >= 1, got {}", o.num_classes);
  CONVLAB_CHECK(o.width >= 1, "ResNet needs width >= 1, got {}", o.width);
  uint32_t init_id = 1;  // one Philox stream per weight tensor, in construction order
  stem_conv_ = &register_module("conv1", std::make_unique<nn::Conv2d>(conv3x3(3, o.width, 1), o.seed, init_id++, o.dtype));
  stem_bn_ = &register_module("bn1", std::make_unique<nn::BatchNorm2d>(o.width, 1e-5, 0.1, o.dtype));
  int64_t channels = o.width;
  for (int stage = 0; stage < 3; ++stage) {
    const int64_t width = o.width << stage;
    auto& layer = register_module(fmt::format("layer{}", stage + 1), std::make_unique<nn::Sequential>());
    for (int b = 0; b < o.blocks_per_stage; ++b) {
      const int64_t stride = stage > 0 && b == 0 ? 2 : 1;
      blocks_.push_back(&layer.add(std::make_unique<BasicBlock>(channels, width, stride, o, init_id)));
      block_names_.push_back(fmt::format("layer{}.{}", stage + 1, b));
      channels = width;
    }
  }
  fc_ = &register_module("fc", std::make_unique<nn::Linear>(nn::LinearOptions{channels, o.num_classes, true}, o.seed,
                                                             init_id++, o.dtype));
}

Variable ResNet::forward(const Variable& x, nn::ForwardContext& ctx) {
  Variable h = stem_bn_->forward_relu(stem_conv_->forward(x, ctx), ctx);
  if (ctx.features) ctx.features->push_back(h);
  for (BasicBlock* block : blocks_) {
    h = block->forward(h, ctx);
    if (ctx.features) ctx.features->push_back(h);
  }
  Variable pooled = ops::global_avg_pool(h);
  if (ctx.features) ctx.features->push_back(pooled);
  Variable logits = fc_->forward(pooled, ctx);
  if (ctx.features) ctx.features->push_back(logits);
  return logits;
}

void ResNet::fold_batchnorm() {
  stem_bn_->fold_into(*stem_conv_);
  for (BasicBlock* block : blocks_) block->fold_batchnorm();
}

void ResNet::unfold_batchnorm() {
  stem_bn_->unfold();
  for (BasicBlock* block : blocks_) block->unfold_batchnorm();
}

std::vector<std::string> ResNet::feature_names() const {
  std::vector<std::string> names{"stem"};
  names.insert(names.end(), block_names_.begin(), block_names_.end());
  names.push_back("pool");
  names.push_back("logits");
  return names;
}

std::vector<ResNet::ConvSite> ResNet::conv_sites() const {
  std::vector<ConvSite> sites{{stem_conv_, 32, false, true}};
  int64_t size = 32;
  for (const BasicBlock* block : blocks_) {
    const int64_t stride = block->conv1()->spec().stride;
    sites.push_back({block->conv1(), size, false, true});
    if (block->shortcut_conv()) sites.push_back({block->shortcut_conv(), size, true, false});
    size = (size - 1) / stride + 1;
    sites.push_back({block->conv2(), size, false, false});
  }
  return sites;
}

std::string ResNet::description() const {
  return fmt::format("ResNet-{} ({} blocks per stage, {}/{}/{} channels, projection shortcuts)",
                     6 * options_.blocks_per_stage + 2, options_.blocks_per_stage, options_.width, 2 * options_.width,
                     4 * options_.width);
}

}  // namespace convlab::models
