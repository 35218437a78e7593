// Training steps on the GPU: replaying a recorded CUDA graph gives the same weights as eager
// steps, and the same steps twice give the same bits. Skips without a GPU.
#include <gtest/gtest.h>

#include <cstring>

#include "framework/backend/cuda_device.h"
#include "framework/train/train_step.h"
#include "models/all_cnn_c.h"

using namespace convlab;

namespace {

// Weights after `steps` updates of a narrow All-CNN-C (dropout on) on synthetic batches.
std::vector<std::vector<float>> train(Device device, bool use_graph, int steps) {
  models::AllCnnCOptions o;
  o.width1 = 16;
  o.width2 = 32;
  o.dropout_input = 0.1;
  o.dropout_hidden = 0.3;
  models::AllCnnC model(o);
  model.to(device);
  SgdConfig sgd_config{0.9, true, 2.0, 0.0};
  sgd_config.l2 = 1e-4;
  optim::Sgd sgd(model.parameters(), sgd_config);
  StepOptions options;
  options.seed = 3;
  options.batch_size = 8;
  options.use_graph = use_graph;
  TrainStep step(model, sgd, options, device, 0);
  step.set_lr(0.05);
  ImageSet set;
  set.images.resize(32 * 3072);
  set.labels.resize(32);
  for (size_t i = 0; i < set.images.size(); ++i) set.images[i] = static_cast<uint8_t>(kernels::random_u32({4, 0, 0}, i));
  for (int i = 0; i < 32; ++i) set.labels[i] = static_cast<uint8_t>(i % 10);
  const DeviceImageSet data = upload(set, device);
  const Tensor order = identity_order(32, device);
  const kernels::AugmentConfig augment = kernels::cifar10_augment_config(true, true, true);
  for (int s = 0; s < steps; ++s) step.run(assemble_batch(data, order, (s % 4) * 8, 8, augment, true, 3, s / 4));
  EXPECT_EQ(step.graph_active(), use_graph);
  std::vector<std::vector<float>> weights;
  for (Variable* p : model.parameters()) weights.push_back(p->value().to(cpu()).to_vector<float>());
  return weights;
}

}  // namespace

TEST(CudaGraph, ReplaysMatchEagerStepsAndRepeatBitwise) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU";
  auto context = create_cuda_context(0);
  const Device gpu(context.get());
  const auto eager = train(gpu, false, 6);
  const auto eager_again = train(gpu, false, 6);
  const auto graph = train(gpu, true, 6);  // 1 eager warm-up, then 5 replays
  ASSERT_EQ(eager.size(), graph.size());
  for (size_t i = 0; i < eager.size(); ++i) {
    EXPECT_EQ(0, std::memcmp(eager[i].data(), eager_again[i].data(), eager[i].size() * 4)) << "parameter " << i;
    EXPECT_EQ(0, std::memcmp(eager[i].data(), graph[i].data(), eager[i].size() * 4)) << "parameter " << i;
  }
}

TEST(CudaGraph, NeedsACudaDevice) {
  models::AllCnnCOptions o;
  o.width1 = 4;
  o.width2 = 4;
  models::AllCnnC model(o);
  optim::Sgd sgd(model.parameters(), SgdConfig{});
  StepOptions options;
  options.batch_size = 2;
  options.use_graph = true;
  EXPECT_THROW(TrainStep(model, sgd, options, cpu(), 0), Error);
}
