// ResNet-20: the parameter count worked out by hand, torchvision's names, feature widths,
// the registry and config, a whole-network gradient check, learning a small set, a
// checkpoint round trip through load_model, and CPU-vs-CUDA training steps.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "framework/analysis/compare.h"
#include "framework/analysis/feature_source.h"
#include "framework/analysis/model_loader.h"
#include "framework/data/cifar10.h"
#include "framework/backend/cuda_device.h"
#include "framework/io/config.h"
#include "framework/ops/ops.h"
#include "framework/optim/sgd.h"
#include "framework/train/checkpoint.h"
#include "framework/train/trainer.h"
#include "kernels/philox.h"
#include "models/registry.h"
#include "models/resnet.h"
#include "tests/support/gradient_check.h"
#include "tests/support/source_paths.h"
#include "tests/support/tiny_image_folder.h"

#if CONVLAB_WITH_CUDA
#include "framework/backend/cuda/cuda_context.h"
#endif

using namespace convlab;
using models::ResNet;
using models::ResNetOptions;

namespace {

// conv k x k from c to k channels, without bias.
int64_t conv(int64_t in, int64_t out, int64_t kernel) { return in * out * kernel * kernel; }
int64_t bn(int64_t channels) { return 2 * channels; }  // scale and shift

}  // namespace

TEST(ResNet20, ParameterCountByHand) {
  const int64_t stem = conv(3, 16, 3) + bn(16);                                    // 464
  const int64_t block16 = 2 * conv(16, 16, 3) + 2 * bn(16);                          // 4,672
  const int64_t down32 = conv(16, 32, 3) + conv(32, 32, 3) + 2 * bn(32) + conv(16, 32, 1) + bn(32);  // 14,528
  const int64_t block32 = 2 * conv(32, 32, 3) + 2 * bn(32);                          // 18,560
  const int64_t down64 = conv(32, 64, 3) + conv(64, 64, 3) + 2 * bn(64) + conv(32, 64, 1) + bn(64);  // 57,728
  const int64_t block64 = 2 * conv(64, 64, 3) + 2 * bn(64);                          // 73,984
  const int64_t fc = 64 * 10 + 10;                                                   // 650
  const int64_t total = stem + 3 * block16 + down32 + 2 * block32 + down64 + 2 * block64 + fc;
  EXPECT_EQ(total, 272474);  // the paper's "0.27M"
  EXPECT_EQ(ResNet({}).parameter_count(), total);
}

TEST(ResNet20, NamesFollowTorchvision) {
  ResNet model({});
  const auto params = model.named_parameters();
  ASSERT_EQ(params.size(), 1 + 2 + 9 * 6 + 2 * 3 + 2);  // stem conv + BN, 9 blocks, 2 projections, fc
  EXPECT_EQ(params[0].first, "conv1.weight");
  EXPECT_EQ(params[1].first, "bn1.weight");
  EXPECT_EQ(params[3].first, "layer1.0.conv1.weight");
  EXPECT_EQ(params[3].second->shape(), Shape({16, 16, 3, 3}));
  EXPECT_EQ(params[6].first, "layer1.0.conv2.weight");
  std::map<std::string, Shape> by_name;
  for (const auto& [name, p] : params) by_name.emplace(name, p->shape());
  EXPECT_EQ(by_name.at("layer2.0.conv1.weight"), Shape({32, 16, 3, 3}));
  EXPECT_EQ(by_name.at("layer2.0.downsample.0.weight"), Shape({32, 16, 1, 1}));
  EXPECT_EQ(by_name.at("layer2.0.downsample.1.bias"), Shape({32}));
  EXPECT_EQ(by_name.at("layer3.0.downsample.0.weight"), Shape({64, 32, 1, 1}));
  EXPECT_EQ(by_name.count("layer1.0.downsample.0.weight"), 0u);  // identity shortcuts
  EXPECT_EQ(by_name.count("layer2.1.downsample.0.weight"), 0u);
  EXPECT_EQ(by_name.at("layer3.2.bn2.weight"), Shape({64}));
  EXPECT_EQ(params[params.size() - 2].first, "fc.weight");
  EXPECT_EQ(params.back().first, "fc.bias");
  EXPECT_EQ(by_name.at("fc.weight"), Shape({10, 64}));
  EXPECT_EQ(model.named_buffers().size(), 2u * (1 + 18 + 2));  // running mean and variance of 21 BNs
}

TEST(ResNet20, FeaturesAndShapes) {
  ResNet model({});
  model.eval();
  NoGradGuard no_grad;
  std::vector<Variable> features;
  nn::ForwardContext ctx;
  ctx.features = &features;
  const Variable logits = model.forward(Variable(test_support::random_tensor({2, 3, 32, 32}, 1, -1, 1, DType::f32)), ctx);
  EXPECT_EQ(logits.shape(), Shape({2, 10}));
  const std::vector<std::string> names{"stem",     "layer1.0", "layer1.1", "layer1.2", "layer2.0", "layer2.1",
                                       "layer2.2", "layer3.0", "layer3.1", "layer3.2", "pool",     "logits"};
  EXPECT_EQ(model.feature_names(), names);
  const std::vector<Shape> shapes{{2, 16, 32, 32}, {2, 16, 32, 32}, {2, 16, 32, 32}, {2, 16, 32, 32},
                                  {2, 32, 16, 16}, {2, 32, 16, 16}, {2, 32, 16, 16}, {2, 64, 8, 8},
                                  {2, 64, 8, 8},   {2, 64, 8, 8},   {2, 64},         {2, 10}};
  ASSERT_EQ(features.size(), shapes.size());
  for (size_t i = 0; i < shapes.size(); ++i) EXPECT_EQ(features[i].shape(), shapes[i]) << names[i];
  EXPECT_EQ(features.back().value().to_vector<float>(), logits.value().to_vector<float>());
  // Every block ends with a ReLU.
  for (size_t i = 0; i + 2 < features.size(); ++i)
    for (float v : features[i].value().to_vector<float>()) ASSERT_GE(v, 0.0f) << names[i];
  // The conv sites: stem, 9 x 2 convs, 2 projections, with the sizes they read.
  const auto sites = model.conv_sites();
  ASSERT_EQ(sites.size(), 21u);
  EXPECT_EQ(sites[7].conv->weight().shape(), Shape({32, 16, 3, 3}));  // layer2.0.conv1 reads 32x32
  EXPECT_EQ(sites[7].in_size, 32);
  EXPECT_EQ(sites[8].conv->weight().shape(), Shape({32, 16, 1, 1}));  // its projection, also 32x32
  EXPECT_TRUE(sites[8].shortcut);
  EXPECT_EQ(std::count_if(sites.begin(), sites.end(), [](const ResNet::ConvSite& s) { return s.shortcut; }), 2);
  EXPECT_EQ(sites[9].in_size, 16);
  EXPECT_EQ(sites.back().in_size, 8);
  EXPECT_EQ(model.description(), "ResNet-20 (3 blocks per stage, 16/32/64 channels, projection shortcuts)");
}

TEST(ResNet20, RegistryAndConfig) {
  const TrainConfig config = load_config(std::string(test_support::source_dir()) + "/configs/resnet20.yaml");
  EXPECT_EQ(config.model.name, "resnet20");
  EXPECT_EQ(config.train.lrate, 0.1);
  EXPECT_EQ(config.train.momentum, 0.9);
  EXPECT_FALSE(config.train.nesterov);
  EXPECT_EQ(config.train.max_norm, 0.0);
  EXPECT_EQ(config.train.w_decay, 5e-5);  // the paper's 1e-4 on the gradient
  EXPECT_EQ(config.train.batch_size, 128);
  EXPECT_EQ(config.train.num_epochs, 160);
  EXPECT_EQ(config.train.decay_after_epochs, (std::vector<int>{80, 120}));
  EXPECT_TRUE(config.train.use_augment);
  EXPECT_FALSE(config.train.use_cutout);
  const auto model = models::make_model(config.model, 3);
  EXPECT_EQ(model->parameter_count(), 272474);
  EXPECT_NE(dynamic_cast<ResNet*>(model.get()), nullptr);
  const auto names = models::model_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "resnet20"), names.end());
  EXPECT_EQ(names.front(), "all_cnn_c");
  EXPECT_EQ(ModelSection{}.name, "all_cnn_c");  // still the default
  // All-CNN-C keys that would be ignored are refused.
  ModelSection dropout = config.model;
  dropout.dropout_hidden = 0.5;
  EXPECT_THROW(models::make_model(dropout, 0), Error);
  ModelSection depth = config.model;
  depth.depth = 2;
  EXPECT_THROW(models::make_model(depth, 0), Error);
  ModelSection classes = config.model;
  classes.num_classes = 100;
  EXPECT_EQ(models::make_model(classes, 0)->parameter_count(), 272474 + 90 * 65);
}

TEST(ResNet, WholeNetworkGradientCheck) {
  // ResNet-8 (one block per stage), 2/4/8 channels, f64, 8x8 images (8 -> 4 -> 2): both
  // kinds of shortcut, every BN in training mode, the pool and the classifier.
  ResNetOptions o;
  o.blocks_per_stage = 1;
  o.width = 2;
  o.num_classes = 3;
  o.dtype = DType::f64;
  o.seed = 4;
  ResNet model(o);
  Variable x(test_support::random_tensor({4, 3, 8, 8}, 41), true);
  const Tensor labels = Tensor::from_vector<int32_t>({4}, {0, 2, 1, 2});
  nn::ForwardContext ctx;
  std::vector<Variable*> wrt = model.parameters();
  wrt.push_back(&x);
  test_support::GradCheckOptions options;
  options.max_elements = 10;
  const auto report = check_gradients(
      [&] {
        return ops::add(ops::softmax_cross_entropy(model.forward(x, ctx), labels),
                        optim::l2_penalty(model.parameters(), 1e-2));
      },
      wrt, options);
  EXPECT_TRUE(report.ok) << report.message;
  EXPECT_GT(report.checked, 150);
}

namespace {

struct Steps {
  std::vector<double> losses;
  std::vector<Tensor> params;  // on the CPU
};

// Full-batch heavy-ball SGD (the paper's) on 32 random images with random labels.
Steps train_steps(Device device, int steps, int blocks_per_stage, int64_t width) {
  ResNetOptions o;
  o.blocks_per_stage = blocks_per_stage;
  o.width = width;
  o.seed = 9;
  ResNet model(o);
  model.to(device);
  const Tensor images = test_support::random_tensor({32, 3, 32, 32}, 51, -2, 2, DType::f32).to(device);
  std::vector<int32_t> label_values(32);
  for (int i = 0; i < 32; ++i) label_values[static_cast<size_t>(i)] = static_cast<int32_t>(kernels::random_below({5, 7, 0}, i, 10));
  const Tensor labels = Tensor::from_vector<int32_t>({32}, label_values).to(device);
  optim::Sgd sgd(model.parameters(), SgdConfig{0.9, false, 0.0, 0.0});
  const Tensor lr = Tensor::from_vector<float>({1}, {0.05f}).to(device);
  Steps result;
  nn::ForwardContext ctx;
  for (int step = 0; step < steps; ++step) {
    model.zero_grad();
    Variable loss = ops::add(ops::softmax_cross_entropy(model.forward(Variable(images.clone()), ctx), labels),
                             optim::l2_penalty(model.parameters(), 5e-5));
    result.losses.push_back(loss.value().to(cpu()).item());
    loss.backward();
    sgd.step(lr);
  }
  for (Variable* p : model.parameters()) result.params.push_back(p->value().to(cpu()));
  return result;
}

}  // namespace

TEST(ResNet, LearnsASmallSet) {
  const Steps run = train_steps(cpu(), 30, 1, 8);
  EXPECT_NEAR(run.losses.front(), std::log(10.0), 1.5);
  EXPECT_LT(run.losses.back(), 0.3 * run.losses.front());
  for (double loss : run.losses) EXPECT_TRUE(std::isfinite(loss));
}

TEST(ResNet20, CheckpointRoundTripThroughTheLoader) {
  const std::filesystem::path file =
      std::filesystem::temp_directory_path() / fmt::format("convlab-resnet20-{}.safetensors", ::getpid());
  ModelSection section;
  section.name = "resnet20";
  auto model = models::make_model(section, 7);
  {
    // Move the BN statistics off their initial values so that the check covers buffers.
    nn::ForwardContext ctx;
    model->forward(Variable(test_support::random_tensor({4, 3, 32, 32}, 61, -1, 1, DType::f32)), ctx);
  }
  // What the trainer writes (framework/train/trainer.cpp): the model section, for the loader.
  save_checkpoint(file, *model, nullptr,
                  {{"model_name", "resnet20"}, {"depth", "1"}, {"num_classes", "10"}, {"batchnorm", "true"}, {"epoch", "3"}});
  LoadedModel loaded = load_model(file, models::make_model, cpu());
  std::filesystem::remove(file);
  EXPECT_EQ(loaded.epoch, 3);
  EXPECT_EQ(loaded.model->feature_names().size(), 12u);
  model->eval();
  NoGradGuard no_grad;
  nn::ForwardContext ctx;
  const Tensor x = test_support::random_tensor({3, 3, 32, 32}, 62, -1, 1, DType::f32);
  EXPECT_EQ(model->forward(Variable(x.clone()), ctx).value().to_vector<float>(),
            loaded.model->forward(Variable(x.clone()), ctx).value().to_vector<float>());
}

TEST(ResNet20, TrainsAndPairsWithAllCnnCAcrossLayerCounts) {
  // Both models through the training loop on a tiny image folder, then their checkpoints back
  // through the loader into one CKA matrix: 12 ResNet-20 features by 10 All-CNN-C ones.
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / fmt::format("convlab-resnet-pair-{}", ::getpid());
  std::filesystem::remove_all(dir);
  test_support::write_tiny_image_folder(dir / "data", 4, 2);
  auto run = [&](const std::string& model) {
    TrainOptions o;
    o.make_model = models::make_model;
    o.config = load_config(std::string(test_support::source_dir()) + "/configs/resnet20.yaml");
    o.config.model.name = model;
    o.config.train.num_epochs = 1;
    o.config.train.train_data_size = 40;
    o.config.train.batch_size = 16;
    o.config.log.experiment_dir = (dir / model).string();
    o.data = dir / "data";
    o.cache_dir = dir / "cache";
    o.quiet = true;
    o.device = "cpu";  // the analysis below loads onto the CPU too
    const TrainSummary summary = train(o);
    EXPECT_EQ(summary.epochs_done, 1);
    return summary.run_dir / "checkpoints" / "epoch_0001.safetensors";
  };
  LoadedModel resnet = load_model(run("resnet20"), models::make_model, cpu());
  LoadedModel all_cnn = load_model(run("all_cnn_c"), models::make_model, cpu());
  EXPECT_EQ(resnet.metadata.at("model_name"), "resnet20");
  EXPECT_EQ(resnet.model->parameter_count(), 272474);
  const Cifar10 data = load_cifar10(dir / "data", dir / "cache");
  const DeviceImageSet images = upload(data.test, cpu());
  ModelFeatureSource a(*resnet.model, images, "resnet20"), b(*all_cnn.model, images, "all_cnn_c");
  const std::vector<CkaMatrix> matrices = compare_layers(a, &b, {{cka::Kernel::linear(), cka::Estimator::debiased}}, 10);
  ASSERT_EQ(matrices.size(), 1u);
  EXPECT_EQ(matrices[0].rows, 12);
  EXPECT_EQ(matrices[0].cols, 10);
  EXPECT_EQ(matrices[0].row_names.front(), "stem");
  EXPECT_EQ(matrices[0].col_names.back(), "logits");
  for (double v : matrices[0].values) EXPECT_TRUE(std::isfinite(v));
  std::filesystem::remove_all(dir);
}

TEST(ResNet20, CudaTrainingStepsMatchTheCpu) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU";
  auto context = create_cuda_context(0);
#if CONVLAB_WITH_CUDA
  static_cast<CudaContext*>(context.get())->set_allow_tf32(false);
#endif
  const Steps on_cpu = train_steps(cpu(), 4, 3, 16);
  const Steps on_gpu = train_steps(Device(context.get()), 4, 3, 16);
  ASSERT_EQ(on_cpu.losses.size(), on_gpu.losses.size());
  for (size_t i = 0; i < on_cpu.losses.size(); ++i)
    EXPECT_NEAR(on_gpu.losses[i], on_cpu.losses[i], 1e-4 * std::abs(on_cpu.losses[i])) << "step " << i;
  ASSERT_EQ(on_cpu.params.size(), on_gpu.params.size());
  for (size_t i = 0; i < on_cpu.params.size(); ++i) {
    const std::vector<double> a = on_cpu.params[i].to(DType::f64).to_vector<double>();
    const std::vector<double> b = on_gpu.params[i].to(DType::f64).to_vector<double>();
    double diff = 0, norm = 0;
    for (size_t j = 0; j < a.size(); ++j) {
      diff += (a[j] - b[j]) * (a[j] - b[j]);
      norm += a[j] * a[j];
    }
    EXPECT_LE(std::sqrt(diff / norm), 1e-4) << "parameter " << i;
  }
}

TEST(ResNet20, FoldedBatchNormGivesTheSameLogits) {
  models::ResNetOptions o;
  o.width = 8;
  models::ResNet model(o);
  const Tensor images = test_support::random_tensor({4, 3, 32, 32}, 92, -2, 2, DType::f32);
  nn::ForwardContext ctx;
  for (int i = 0; i < 3; ++i) model.forward(Variable(images.clone()), ctx);
  model.eval();
  NoGradGuard no_grad;
  const Tensor plain = model.forward(Variable(images.clone()), ctx).value().clone();
  model.fold_batchnorm();  // the stem, every block's two and each projection shortcut's
  const Tensor folded = model.forward(Variable(images.clone()), ctx).value().clone();
  double diff = 0, norm = 0;
  for (int64_t i = 0; i < plain.numel(); ++i) {
    diff += std::pow(double(plain.host<float>()[i]) - folded.host<float>()[i], 2);
    norm += std::pow(double(plain.host<float>()[i]), 2);
  }
  EXPECT_LT(std::sqrt(diff / norm), 1e-4);  // a few float roundings per layer
  EXPECT_GT(diff, 0.0) << "the folded path must actually run";
}
