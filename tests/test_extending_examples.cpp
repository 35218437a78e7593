// The worked examples of docs/extending.md, compiled and run: an op defined outside the
// framework (a scaled tanh), a small model that uses it trained by the real training loop
// through its own factory, and a synthetic data set trained for a few steps. The regions
// between "[docs:NAME]" and "[/docs:NAME]" are quoted in docs/extending.md; the last test
// checks that the document still quotes them word for word.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "framework/analysis/model_loader.h"
#include "framework/io/metrics_log.h"
#include "framework/nn/layers.h"
#include "framework/nn/model.h"
#include "framework/ops/ops.h"
#include "framework/optim/sgd.h"
#include "framework/train/batches.h"
#include "framework/train/evaluate.h"
#include "framework/train/trainer.h"
#include "kernels/philox.h"
#include "models/registry.h"
#include "tests/support/gradient_check.h"
#include "tests/support/source_paths.h"
#include "tests/support/tiny_image_folder.h"

namespace fs = std::filesystem;
using namespace convlab;

namespace example {

// [docs:op]
// y = a tanh(b x), LeCun's scaled tanh (a = 1.7159, b = 2/3), on CPU tensors (f32 or f64).
// The backward needs only the output: dy/dx = a b (1 - tanh^2) = b (a - y^2 / a).
template <class F>
void on_cpu_floats(const Tensor& t, F&& f) {  // calls f(T{}) with T the tensor's float type
  CONVLAB_CHECK(t.device().is_cpu(), "scaled_tanh runs on the CPU, got {}", t.describe());
  if (t.dtype() == DType::f64) return f(double{});
  CONVLAB_CHECK(t.dtype() == DType::f32, "scaled_tanh takes f32 or f64, got {}", t.describe());
  f(float{});
}

struct ScaledTanhNode : Node {
  double a = 1, b = 1;
  const char* name() const override { return "scaled_tanh"; }
  std::vector<Tensor> backward(const Tensor& grad_y) override {
    const Tensor& y = output_value();
    std::vector<Tensor> grads(1);
    grads[0] = Tensor::empty(y.shape(), y.dtype(), y.device());
    on_cpu_floats(y, [&]<class T>(T) {
      for (int64_t i = 0; i < y.numel(); ++i) {
        const T out = y.host<T>()[i];
        grads[0].host<T>()[i] = grad_y.host<T>()[i] * T(b) * (T(a) - out * out / T(a));
      }
    });
    return grads;
  }
};

Variable scaled_tanh(const Variable& x, double a = 1.7159, double b = 2.0 / 3.0) {
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  on_cpu_floats(x.value(), [&]<class T>(T) {
    for (int64_t i = 0; i < y.numel(); ++i) y.host<T>()[i] = T(a) * std::tanh(T(b) * x.value().host<T>()[i]);
  });
  auto node = std::make_shared<ScaledTanhNode>();
  node->a = a;
  node->b = b;
  return make_result(std::move(y), std::move(node), {&x});  // records the node if x needs a gradient
}
// [/docs:op]

// [docs:model]
// conv 3x3 (stride 2) - BN - scaled tanh - global average pool - linear.
class TinyNet : public nn::Model {
 public:
  TinyNet(int num_classes, uint64_t seed) {
    conv_ = &register_module("conv1", std::make_unique<nn::Conv2d>(
                                          nn::Conv2dOptions{3, 8, 3, 2, Padding::explicit_, 1, false}, seed, 1));
    bn_ = &register_module("bn1", std::make_unique<nn::BatchNorm2d>(8));
    fc_ = &register_module("fc", std::make_unique<nn::Linear>(nn::LinearOptions{8, num_classes, true}, seed, 2));
  }
  Variable forward(const Variable& x, nn::ForwardContext& ctx) override {
    Variable h = scaled_tanh(bn_->forward(conv_->forward(x, ctx), ctx));
    if (ctx.features) ctx.features->push_back(h);  // one entry per feature_names() entry
    Variable logits = fc_->forward(ops::global_avg_pool(h), ctx);
    if (ctx.features) ctx.features->push_back(logits);
    return logits;
  }
  std::vector<std::string> feature_names() const override { return {"conv1", "logits"}; }
  std::string description() const override { return "TinyNet (conv 8, scaled tanh, linear)"; }

 private:
  nn::Conv2d* conv_;
  nn::BatchNorm2d* bn_;
  nn::Linear* fc_;
};

// The training loop and the analyses build models through a factory: this one knows
// "tiny_net" and hands every other name to the registry.
std::unique_ptr<nn::Model> make_model(const ModelSection& section, uint64_t seed) {
  if (section.name == "tiny_net") return std::make_unique<TinyNet>(section.num_classes, seed);
  return models::make_model(section, seed);
}
// [/docs:model]

// [docs:data]
// A data set the training loop can read: uint8 images (N, 3, 32, 32), planar RGB, and labels.
// Here two classes: dark images (label 0) and bright ones (label 1), with noise.
ImageSet two_tone_images(int64_t count, uint64_t seed) {
  ImageSet set;
  set.images.resize(static_cast<size_t>(count * kCifarImageBytes));
  set.labels.resize(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    const int label = static_cast<int>(i % 2);
    set.labels[static_cast<size_t>(i)] = static_cast<uint8_t>(label);
    for (int64_t p = 0; p < kCifarImageBytes; ++p) {
      const double noise = kernels::random_uniform({seed, 0, 0}, static_cast<uint64_t>(i * kCifarImageBytes + p));
      set.images[static_cast<size_t>(i * kCifarImageBytes + p)] = static_cast<uint8_t>(60 + 120 * label + 60 * noise);
    }
  }
  return set;
}

// A few steps of what framework/train/trainer.cpp does per epoch: upload once, then per step
// gather an augmented batch on the device, forward, loss + L2, backward, SGD.
double train_a_few_steps(nn::Model& model, const ImageSet& set, int steps, Device device) {
  const DeviceImageSet data = upload(set, device);
  const Tensor order = identity_order(data.size(), device);
  const kernels::AugmentConfig augment = kernels::cifar10_augment_config(true, true, false);  // crop, flip
  optim::Sgd sgd(model.parameters(), SgdConfig{0.9, false, 0.0, 0.0});
  const Tensor lr = Tensor::full({1}, DType::f32, device, 0.05);
  nn::ForwardContext ctx;
  const int64_t batch_size = 16;
  for (int step = 0; step < steps; ++step) {
    const int64_t first = (step * batch_size) % data.size();
    Batch batch = assemble_batch(data, order, first, batch_size, augment, /*augment=*/true, /*seed=*/1,
                                 /*epoch=*/static_cast<uint32_t>(step));
    model.zero_grad();
    Variable loss = ops::add(ops::softmax_cross_entropy(model.forward(Variable(std::move(batch.images)), ctx), batch.labels),
                             optim::l2_penalty(model.parameters(), 5e-5));
    loss.backward();
    sgd.step(lr);
  }
  return evaluate(model, data, 32, augment).accuracy;  // eval mode, no augmentation
}
// [/docs:data]

}  // namespace example

TEST(ExtendingExamples, ScaledTanhGradientCheck) {
  Variable x(test_support::random_tensor({2, 3, 4, 5}, 1, -3, 3), true);
  const auto report = test_support::check_gradients([&] { return example::scaled_tanh(x); }, {&x});
  EXPECT_TRUE(report.ok) << report.message;
  EXPECT_GT(report.checked, 50);
  // f(0) = 0 and f(+-inf) = +-a.
  const Variable y = example::scaled_tanh(Variable(Tensor::from_vector<double>({3}, {0.0, 100.0, -100.0})));
  EXPECT_EQ(y.value().to_vector<double>(), (std::vector<double>{0.0, 1.7159, -1.7159}));
}

TEST(ExtendingExamples, TinyNetShapesAndFeatures) {
  ModelSection section;
  section.name = "tiny_net";
  section.num_classes = 3;
  auto model = example::make_model(section, 5);
  EXPECT_EQ(model->parameter_count(), 8 * 3 * 9 + 2 * 8 + 8 * 3 + 3);
  EXPECT_EQ(model->feature_names(), (std::vector<std::string>{"conv1", "logits"}));
  std::vector<Variable> features;
  nn::ForwardContext ctx;
  ctx.features = &features;
  const Variable logits =
      model->forward(Variable(test_support::random_tensor({2, 3, 32, 32}, 2, -1, 1, DType::f32)), ctx);
  EXPECT_EQ(logits.shape(), Shape({2, 3}));
  ASSERT_EQ(features.size(), 2u);
  EXPECT_EQ(features[0].shape(), Shape({2, 8, 16, 16}));
}

TEST(ExtendingExamples, SyntheticDataTrainsInAFewSteps) {
  const ImageSet set = example::two_tone_images(64, 3);
  example::TinyNet model(2, 7);
  EXPECT_GE(example::train_a_few_steps(model, set, 20, cpu()), 0.95);
}

TEST(ExtendingExamples, TheTrainingLoopTakesTheModelThroughItsFactory) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("convlab-extending-{}", ::getpid());
  fs::remove_all(dir);
  test_support::write_tiny_image_folder(dir / "data", 4, 2);
  // [docs:train]
  TrainOptions options;
  options.make_model = example::make_model;  // instead of models::make_model
  options.config.model.name = "tiny_net";
  options.config.train.num_epochs = 2;
  options.config.train.train_data_size = 40;
  options.config.train.batch_size = 8;
  options.config.log.experiment_dir = (dir / "run").string();
  options.data = dir / "data";  // an image folder: train/<class>/*.png, test/<class>/*.png
  options.cache_dir = dir / "cache";
  options.quiet = true;
  options.device = "cpu";  // scaled_tanh has no CUDA kernel; "auto" would take a GPU
  const TrainSummary summary = train(options);
  // Checkpoints name the model; the analyses load them through the same factory.
  const LoadedModel loaded = load_model(summary.run_dir / "checkpoints" / "epoch_0002.safetensors",
                                        example::make_model, cpu());
  // [/docs:train]
  EXPECT_EQ(summary.epochs_done, 2);
  EXPECT_EQ(MetricsLog::read_csv(dir / "run" / "metrics.csv").size(), 3u);  // epochs 0 (at init), 1, 2
  EXPECT_EQ(loaded.model->description(), "TinyNet (conv 8, scaled tanh, linear)");
  EXPECT_EQ(loaded.metadata.at("model_name"), "tiny_net");
  fs::remove_all(dir);
}

TEST(ExtendingExamples, DocsQuoteTheseExamplesVerbatim) {
  auto read = [](const fs::path& file) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  const std::string source = read(fs::path(test_support::source_dir()) / "tests" / "test_extending_examples.cpp");
  const std::string docs = read(fs::path(test_support::source_dir()) / "docs" / "extending.md");
  ASSERT_FALSE(docs.empty()) << "docs/extending.md is missing";
  for (const std::string name : {"op", "model", "data", "train"}) {
    const std::string open = "// [docs:" + name + "]\n", close = "// [/docs:" + name + "]";
    const size_t begin = source.find(open), end = source.find(close);
    ASSERT_NE(begin, std::string::npos) << name;
    ASSERT_NE(end, std::string::npos) << name;
    // The region as the document shows it: each line without the indentation of the marker.
    const size_t line_start = source.rfind('\n', begin) + 1;
    const size_t indent = begin - line_start;
    std::string region;
    std::istringstream lines(source.substr(begin + open.size(), end - begin - open.size()));
    for (std::string line; std::getline(lines, line);) {
      if (line.find_first_not_of(' ') == std::string::npos) {
        region += "\n";
        continue;
      }
      region += line.substr(std::min(indent, line.find_first_not_of(' '))) + "\n";
    }
    while (!region.empty() && region.back() == '\n' && region.size() > 1 && region[region.size() - 2] == '\n')
      region.pop_back();
    EXPECT_NE(docs.find(region), std::string::npos)
        << "docs/extending.md no longer quotes the [docs:" << name << "] example of this file:\n" << region;
  }
}
