// SGD and the schedule against values worked out by hand.
#include <gtest/gtest.h>

#include <cmath>

#include "framework/ops/ops.h"
#include "framework/optim/schedule.h"
#include "framework/optim/sgd.h"

using namespace convlab;

namespace {

// One parameter with a fixed gradient, `steps` updates.
std::vector<double> run_sgd(std::vector<double> start, std::vector<double> grad, SgdConfig config, double lr,
                            int steps) {
  Variable p(Tensor::from_vector<double>({static_cast<int64_t>(start.size())}, start), true);
  optim::Sgd sgd({&p}, config);
  const Tensor rate = Tensor::from_vector<double>({1}, {lr});
  for (int i = 0; i < steps; ++i) {
    p.mutable_grad() = Tensor::from_vector<double>({static_cast<int64_t>(grad.size())}, grad);
    sgd.step(rate);
  }
  return p.value().to_vector<double>();
}

}  // namespace

TEST(Sgd, NesterovByHand) {
  // t = g + 0.9 t; u = g + 0.9 t; p -= 0.1 u, with g = 0.5:
  // step 1: t = 0.5, u = 0.95, p = 0.905; step 2: t = 0.95, u = 1.355, p = 0.7695.
  const SgdConfig config{0.9, /*nesterov=*/true, 0.0, 0.0};
  EXPECT_NEAR(run_sgd({1.0}, {0.5}, config, 0.1, 1)[0], 0.905, 1e-15);
  EXPECT_NEAR(run_sgd({1.0}, {0.5}, config, 0.1, 2)[0], 0.7695, 1e-15);
}

TEST(Sgd, HeavyBallByHand) {
  // u = t: step 1: p = 1 - 0.05 = 0.95; step 2: t = 0.95, p = 0.855.
  const SgdConfig config{0.9, /*nesterov=*/false, 0.0, 0.0};
  EXPECT_NEAR(run_sgd({1.0}, {0.5}, config, 0.1, 2)[0], 0.855, 1e-15);
}

TEST(Sgd, ClipsByGlobalNorm) {
  // g = (3, 4) has norm 5; clipped to norm 2 it is (1.2, 1.6). Plain SGD with lr 1.
  const SgdConfig clip{0.0, false, 2.0, 0.0};
  const auto p = run_sgd({0.0, 0.0}, {3.0, 4.0}, clip, 1.0, 1);
  EXPECT_NEAR(p[0], -1.2, 1e-15);
  EXPECT_NEAR(p[1], -1.6, 1e-15);
  // Below the threshold nothing changes.
  const auto q = run_sgd({0.0, 0.0}, {0.3, 0.4}, clip, 1.0, 1);
  EXPECT_NEAR(q[0], -0.3, 1e-15);
  EXPECT_NEAR(q[1], -0.4, 1e-15);
}

TEST(Sgd, ClipsAcrossAllParameters) {
  // Two tensors (3) and (4): the global norm is 5, both are scaled by 2/5.
  Variable a(Tensor::from_vector<double>({1}, {0.0}), true), b(Tensor::from_vector<double>({1}, {0.0}), true);
  optim::Sgd sgd({&a, &b}, SgdConfig{0.0, false, 2.0, 0.0});
  a.mutable_grad() = Tensor::from_vector<double>({1}, {3.0});
  b.mutable_grad() = Tensor::from_vector<double>({1}, {4.0});
  sgd.step(Tensor::from_vector<double>({1}, {1.0}));
  EXPECT_NEAR(a.value().item(), -1.2, 1e-15);
  EXPECT_NEAR(b.value().item(), -1.6, 1e-15);
  EXPECT_NEAR(sgd.grad_sum_squares().item(), 25.0, 1e-12);
}

TEST(Sgd, DecoupledWeightDecay) {
  // p -= lr (g + d p): 1 - 0.1 (0.5 + 0.01) = 0.949.
  EXPECT_NEAR(run_sgd({1.0}, {0.5}, SgdConfig{0.0, false, 0.0, 0.01}, 0.1, 1)[0], 0.949, 1e-15);
}

TEST(Sgd, L2PenaltyIsAddedToTheLoss) {
  Variable a(Tensor::from_vector<double>({2}, {1.0, -2.0}), true), b(Tensor::from_vector<double>({1}, {3.0}), true);
  Variable penalty = optim::l2_penalty({&a, &b}, 1e-4);
  EXPECT_NEAR(penalty.value().item(), 1e-4 * 14.0, 1e-18);
  penalty.backward();
  EXPECT_NEAR(a.grad().to_vector<double>()[1], 2e-4 * -2.0, 1e-18);
  EXPECT_NEAR(b.grad().item(), 6e-4, 1e-18);
}

TEST(Sgd, L2PenaltyInsideTheOptimiserByHand) {
  // g' = g + 2 l2 p = 0.5 + 2 (0.1)(1) = 0.7; plain SGD with lr 0.1: p = 1 - 0.07 = 0.93.
  SgdConfig config{0.0, false, 0.0, 0.0};
  config.l2 = 0.1;
  EXPECT_NEAR(run_sgd({1.0}, {0.5}, config, 0.1, 1)[0], 0.93, 1e-15);
  // The clip sees the penalised gradient: at p = (1, 1) with l2 = 0.5, g' = (3, 4) + (1, 1)
  // = (4, 5), norm sqrt(41), clipped to norm 2; the penalty's sum is |p|^2 = 2.
  Variable a(Tensor::from_vector<double>({2}, {1.0, 1.0}), true);
  config.l2 = 0.5;
  config.max_norm = 2.0;
  optim::Sgd sgd({&a}, config);
  a.mutable_grad() = Tensor::from_vector<double>({2}, {3.0, 4.0});
  sgd.step(Tensor::from_vector<double>({1}, {1.0}));
  EXPECT_NEAR(sgd.grad_sum_squares().item(), 41.0, 1e-12);
  EXPECT_NEAR(sgd.param_sum_squares().item(), 2.0, 1e-12);
  const double scale = 2.0 / std::sqrt(41.0);
  EXPECT_NEAR(a.value().to_vector<double>()[0], 1.0 - 4.0 * scale, 1e-15);
  EXPECT_NEAR(a.value().to_vector<double>()[1], 1.0 - 5.0 * scale, 1e-15);
}

TEST(Schedule, StepsPerEpochAndMilestones) {
  EXPECT_EQ(optim::steps_per_epoch(50000, 128), 391);
  EXPECT_EQ(optim::steps_per_epoch(50000, 256), 196);
  EXPECT_EQ(optim::steps_per_epoch(50000, 50000), 1);
  EXPECT_THROW(optim::steps_per_epoch(50000, 0), Error);
  const optim::MultistepSchedule s{0.1, 0.1, {200, 250, 300}, 391};
  EXPECT_DOUBLE_EQ(s.lr(0), 0.1);
  EXPECT_DOUBLE_EQ(s.lr(200 * 391 - 1), 0.1);
  EXPECT_NEAR(s.lr(200 * 391), 0.01, 1e-15);
  EXPECT_NEAR(s.lr(250 * 391 - 1), 0.01, 1e-15);
  EXPECT_NEAR(s.lr(250 * 391), 0.001, 1e-15);
  EXPECT_NEAR(s.lr(300 * 391), 0.0001, 1e-15);
  EXPECT_NEAR(s.lr(350 * 391), 0.0001, 1e-15);
}
