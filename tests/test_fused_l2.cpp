// The L2 penalty inside the optimiser (SgdConfig::l2) against the same penalty recorded
// through autograd (optim::l2_penalty): 20 training steps of a small All-CNN-C, heavy-ball
// and Nesterov, with clipping active, must give the same weights and momenta bit for bit.
// Why bitwise: autograd forms the penalty's gradient as (2 * float(l2)) * p and adds it to
// the cross-entropy gradient; the fused path computes g + float(2 l2) * p, the same two
// roundings (float(2 l2) == 2 * float(l2) exactly), and its sums run in the same order.
#include <gtest/gtest.h>

#include <cstring>

#include "framework/train/train_step.h"
#include "models/all_cnn_c.h"
#include "tests/support/synthetic_data.h"

using namespace convlab;

namespace {

struct Outcome {
  std::vector<std::vector<float>> weights, momenta;
  double mean_loss = 0;
  float last_grad_sum_squares = 0;
};

Outcome train(bool nesterov, bool fused, int steps, double w_decay = 5e-3) {
  models::AllCnnCOptions o;
  o.width1 = 8;
  o.width2 = 16;
  o.dropout_input = 0.1;
  o.dropout_hidden = 0.2;
  o.seed = 5;
  models::AllCnnC model(o);
  SgdConfig config{0.9, nesterov, /*max_norm=*/0.5, 0.0};
  config.l2 = fused ? w_decay : 0.0;
  optim::Sgd sgd(model.parameters(), config);
  StepOptions options;
  options.autograd_l2 = fused ? 0.0 : w_decay;
  options.seed = 7;
  options.batch_size = 8;
  TrainStep step(model, sgd, options, cpu(), 0);
  step.set_lr(0.05);
  const ImageSet set = test_support::random_image_set(24, 6);
  const DeviceImageSet data = upload(set, cpu());
  const Tensor order = identity_order(24, cpu());
  const kernels::AugmentConfig augment = kernels::cifar10_augment_config(true, true, true);
  float clip_seen = 0;
  for (int s = 0; s < steps; ++s) {
    step.run(assemble_batch(data, order, (s % 3) * 8, 8, augment, true, 7, static_cast<uint32_t>(s / 3)));
    clip_seen = std::max(clip_seen, static_cast<float>(sgd.grad_sum_squares().item()));
  }
  EXPECT_GT(clip_seen, 0.25f) << "the test means to exercise clipping: the gradient norm must exceed max_norm";
  Outcome out;
  for (Variable* p : model.parameters()) out.weights.push_back(p->value().to_vector<float>());
  for (const Tensor& m : sgd.momentum_buffers()) out.momenta.push_back(m.to_vector<float>());
  out.mean_loss = step.mean_loss(8 * steps);
  out.last_grad_sum_squares = static_cast<float>(sgd.grad_sum_squares().item());
  return out;
}

void expect_bitwise_equal(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b,
                          const char* what) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].size(), b[i].size());
    EXPECT_EQ(0, std::memcmp(a[i].data(), b[i].data(), a[i].size() * sizeof(float))) << what << " " << i;
  }
}

}  // namespace

TEST(FusedL2, MatchesTheAutogradPenaltyBitwiseNesterov) {
  const Outcome fused = train(true, true, 20), reference = train(true, false, 20);
  expect_bitwise_equal(fused.weights, reference.weights, "weights of parameter");
  expect_bitwise_equal(fused.momenta, reference.momenta, "momentum of parameter");
  EXPECT_EQ(fused.mean_loss, reference.mean_loss);
  EXPECT_EQ(fused.last_grad_sum_squares, reference.last_grad_sum_squares);
}

TEST(FusedL2, MatchesTheAutogradPenaltyBitwiseHeavyBall) {
  const Outcome fused = train(false, true, 20), reference = train(false, false, 20);
  expect_bitwise_equal(fused.weights, reference.weights, "weights of parameter");
  expect_bitwise_equal(fused.momenta, reference.momenta, "momentum of parameter");
  EXPECT_EQ(fused.mean_loss, reference.mean_loss);
}

TEST(FusedL2, ThePenaltyChangesTheTrajectory) {
  // Guards the tests above against a penalty that both paths silently ignore: 5e-3 is large
  // enough to move every parameter within a few steps.
  const Outcome with = train(true, true, 4), without = train(true, true, 4, 0.0);
  ASSERT_EQ(with.weights.size(), without.weights.size());
  for (size_t i = 0; i < with.weights.size(); ++i)
    EXPECT_NE(0, std::memcmp(with.weights[i].data(), without.weights[i].data(), with.weights[i].size() * sizeof(float)))
        << "parameter " << i;
}
