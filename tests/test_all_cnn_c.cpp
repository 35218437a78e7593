// All-CNN-C: the reference's parameter counts and feature widths, a whole-network gradient
// check, overfitting a small set, and bitwise repeatability.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "framework/backend/backend.h"
#include "framework/ops/ops.h"
#include "framework/optim/sgd.h"
#include "models/all_cnn_c.h"
#include "tests/support/gradient_check.h"

using namespace convlab;
using models::AllCnnC;
using models::AllCnnCOptions;

TEST(AllCnnC, ParameterCountsMatchTheReference) {
  AllCnnCOptions depth1;
  EXPECT_EQ(AllCnnC(depth1).parameter_count(), 1370996);
  AllCnnCOptions depth2;
  depth2.depth = 2;
  EXPECT_EQ(AllCnnC(depth2).parameter_count(), 2949044);
}

TEST(AllCnnC, NamesFollowTheLayers) {
  AllCnnC model({});
  const auto params = model.named_parameters();
  EXPECT_EQ(params.front().first, "conv1.weight");
  EXPECT_EQ(params[1].first, "bn1.weight");
  EXPECT_EQ(params[2].first, "bn1.bias");
  EXPECT_EQ(params.back().first, "bn9.bias");
  const auto buffers = model.named_buffers();
  EXPECT_EQ(buffers.size(), 18u);
  EXPECT_EQ(buffers[0].first, "bn1.running_mean");
  EXPECT_EQ(buffers[1].first, "bn1.running_var");
  // Without BatchNorm: conv biases, the paper's net.
  AllCnnCOptions paper;
  paper.batchnorm = false;
  AllCnnC plain(paper);
  EXPECT_EQ(plain.named_parameters()[1].first, "conv1.bias");
  EXPECT_TRUE(plain.named_buffers().empty());
}

TEST(AllCnnC, FeatureWidthsMatchTheReference) {
  AllCnnC model({});
  model.eval();
  NoGradGuard no_grad;
  std::vector<Variable> features;
  nn::ForwardContext ctx;
  ctx.features = &features;
  const Variable logits = model.forward(Variable(Tensor::zeros({1, 3, 32, 32}, DType::f32, cpu())), ctx);
  EXPECT_EQ(logits.shape(), Shape({1, 10}));
  const std::vector<int64_t> expected{98304, 98304, 24576, 49152, 49152, 12288, 6912, 6912, 360, 10};
  ASSERT_EQ(features.size(), expected.size());
  ASSERT_EQ(model.feature_names().size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(features[i].value().numel(), expected[i]) << i;
  // Depth 2: 7n + 2 conv layers plus the logits.
  AllCnnCOptions depth2;
  depth2.depth = 2;
  EXPECT_EQ(AllCnnC(depth2).feature_names().size(), 17u);
}

TEST(AllCnnC, WholeNetworkGradientCheck) {
  // A narrow depth-1 net in f64 on 12x12 images (12 -> 6 -> 3 -> 1 after the VALID conv),
  // with dropout on, so every layer kind is in the graph.
  AllCnnCOptions o;
  o.width1 = 4;
  o.width2 = 5;
  o.num_classes = 3;
  o.dropout_input = 0.2;
  o.dropout_hidden = 0.3;
  o.dtype = DType::f64;
  o.seed = 3;
  AllCnnC model(o);
  Variable x(test_support::random_tensor({4, 3, 12, 12}, 21), true);
  const Tensor labels = Tensor::from_vector<int32_t>({4}, {0, 2, 1, 2});
  nn::ForwardContext ctx;
  ctx.seed = 5;
  std::vector<Variable*> wrt = model.parameters();
  wrt.push_back(&x);
  test_support::GradCheckOptions options;
  options.max_elements = 12;
  const auto report = check_gradients(
      [&] {
        return ops::add(ops::softmax_cross_entropy(model.forward(x, ctx), labels),
                        optim::l2_penalty(model.parameters(), 1e-2));
      },
      wrt, options);
  EXPECT_TRUE(report.ok) << report.message;
  EXPECT_GT(report.checked, 100);
}

namespace {

struct TinyRun {
  std::vector<float> losses;
  double final_accuracy = 0;
  std::vector<std::vector<float>> params;
};

// Full-batch training of a narrow All-CNN-C on 64 random images with random labels, the
// images (and so every activation) in `storage`.
TinyRun train_tiny(int steps, double dropout, uint64_t seed, DType dtype = DType::f32,
                   MemoryFormat format = MemoryFormat::contiguous) {
  AllCnnCOptions o;
  o.width1 = 24;
  o.width2 = 48;
  o.dropout_hidden = dropout;
  o.seed = seed;
  AllCnnC model(o);
  const Tensor f32_images = test_support::random_tensor({64, 3, 32, 32}, 99, -2, 2, DType::f32);
  Tensor images = Tensor::empty(f32_images.shape(), dtype, cpu(), format);
  cpu_backend().convert(f32_images, images);
  std::vector<int32_t> label_values(64);
  for (int i = 0; i < 64; ++i) label_values[i] = static_cast<int32_t>(kernels::random_below({7, 9, 0}, i, 10));
  const Tensor labels = Tensor::from_vector<int32_t>({64}, label_values);
  optim::Sgd sgd(model.parameters(), SgdConfig{0.9, true, 2.0, 0.0});
  const Tensor lr = Tensor::from_vector<float>({1}, {0.05f});
  TinyRun run;
  nn::ForwardContext ctx;
  ctx.seed = seed;
  for (int step = 0; step < steps; ++step) {
    ctx.step = static_cast<uint32_t>(step);
    model.zero_grad();
    Variable loss = ops::softmax_cross_entropy(model.forward(Variable(images.clone()), ctx), labels);
    run.losses.push_back(static_cast<float>(loss.value().item()));
    loss.backward();
    sgd.step(lr);
  }
  model.eval();
  NoGradGuard no_grad;
  nn::ForwardContext eval_ctx;
  const Variable logits = model.forward(Variable(images.clone()), eval_ctx);
  Tensor correct = Tensor::zeros({1}, DType::f32, cpu());
  cpu_backend().count_correct(logits.value(), labels, correct);
  run.final_accuracy = correct.item() / 64.0;
  for (Variable* p : model.parameters()) run.params.push_back(p->value().to_vector<float>());
  return run;
}

}  // namespace

TEST(AllCnnC, OverfitsSixtyFourRandomImages) {
  const TinyRun run = train_tiny(60, 0.0, 1);
  EXPECT_GE(run.final_accuracy, 0.95) << "loss went " << run.losses.front() << " -> " << run.losses.back();
  EXPECT_LT(run.losses.back(), 0.5 * run.losses.front());
}

TEST(AllCnnC, OverfitsSixtyFourRandomImagesInBf16ChannelsLast) {
  // bf16 activations and weight copies, fp32 master weights: it learns as fp32 does.
  const TinyRun run = train_tiny(60, 0.0, 1, DType::bf16, MemoryFormat::channels_last);
  EXPECT_GE(run.final_accuracy, 0.9) << "loss went " << run.losses.front() << " -> " << run.losses.back();
  EXPECT_LT(run.losses.back(), 0.5 * run.losses.front());
}

TEST(AllCnnC, SameSeedIsBitwiseIdentical) {
  const TinyRun a = train_tiny(3, 0.5, 4), b = train_tiny(3, 0.5, 4), c = train_tiny(3, 0.5, 5);
  ASSERT_EQ(a.params.size(), b.params.size());
  for (size_t i = 0; i < a.params.size(); ++i)
    EXPECT_EQ(0, std::memcmp(a.params[i].data(), b.params[i].data(), a.params[i].size() * sizeof(float))) << i;
  EXPECT_EQ(a.losses, b.losses);
  EXPECT_NE(a.losses, c.losses);
}

namespace {

// Logits of a trained-looking model (running statistics moved away from 0 and 1 by a few
// training-mode forwards) with and without BatchNorm folded into the convolutions.
template <class M>
void expect_folded_logits_match(M& model) {
  const Tensor images = test_support::random_tensor({6, 3, 32, 32}, 91, -2, 2, DType::f32);
  nn::ForwardContext ctx;
  for (int i = 0; i < 3; ++i) model.forward(Variable(images.clone()), ctx);  // updates the running statistics
  model.eval();
  NoGradGuard no_grad;
  const Tensor plain = model.forward(Variable(images.clone()), ctx).value().clone();
  model.fold_batchnorm();
  const Tensor folded = model.forward(Variable(images.clone()), ctx).value().clone();
  // f32: the folded weights and biases round differently from normalising after the
  // convolution; a few float roundings per layer, well under 1e-4 of the logits' scale.
  double diff = 0, norm = 0;
  for (int64_t i = 0; i < plain.numel(); ++i) {
    diff += std::pow(double(plain.host<float>()[i]) - folded.host<float>()[i], 2);
    norm += std::pow(double(plain.host<float>()[i]), 2);
  }
  EXPECT_LT(std::sqrt(diff / norm), 1e-4);
  EXPECT_GT(diff, 0.0) << "the folded path must actually run";
  // A training-mode forward undoes the folding; evaluation is then unfolded again.
  model.train();
  model.forward(Variable(images.clone()), ctx);
  model.eval();
  const Tensor after = model.forward(Variable(images.clone()), ctx).value().clone();
  const Tensor again = model.forward(Variable(images.clone()), ctx).value().clone();
  EXPECT_EQ(0, std::memcmp(after.raw(), again.raw(), after.nbytes()));
}

}  // namespace

TEST(AllCnnC, FoldedBatchNormGivesTheSameLogits) {
  models::AllCnnCOptions o;
  o.width1 = 16;
  o.width2 = 24;
  models::AllCnnC model(o);
  expect_folded_logits_match(model);
}
