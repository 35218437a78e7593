// Training steps on the GPU: replaying a recorded CUDA graph gives the same weights as eager
// steps, and the same steps twice give the same bits; memory a graph points at survives
// evaluation at another batch size, a partial batch and a grown convolution workspace; and
// running out of memory while recording is a clear error. Skips without a GPU; the lifetime
// test belongs under compute-sanitizer (tools/gpu-check.sh), which sees a replay that writes
// freed memory even when the numbers happen to come out right.
#include <gtest/gtest.h>

#include <cstring>

#include "framework/backend/cuda_device.h"
#include "framework/train/evaluate.h"
#include "framework/train/train_step.h"
#include "models/all_cnn_c.h"

#include "tests/support/synthetic_data.h"

#if CONVLAB_WITH_CUDA
#include "framework/backend/cuda/cuda_context.h"
#endif

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
  const ImageSet set = test_support::random_image_set(32, 4);
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

namespace {

// A run that interleaves everything that may move memory under a recorded step: full-batch
// steps (eager warm-up, recording, replays), evaluation at batch 20 (new convolution shapes),
// a grown workspace, a partial batch, more replays, and a last evaluation. Returns the
// weights and the two evaluations.
struct Sequence {
  std::vector<std::vector<float>> weights;
  EvalResult first_eval, last_eval;
  bool graph_active = false;
};

Sequence interleaved_run(Device device, bool use_graph) {
  models::AllCnnCOptions o;
  o.width1 = 16;
  o.width2 = 32;
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
  const ImageSet set = test_support::random_image_set(45, 8);
  const DeviceImageSet data = upload(set, device);
  const Tensor order = identity_order(45, device);
  const kernels::AugmentConfig augment = kernels::cifar10_augment_config(true, true, true);
  auto full_steps = [&](int first, int count) {
    for (int s = first; s < first + count; ++s)
      step.run(assemble_batch(data, order, (s % 5) * 8, 8, augment, true, 3, static_cast<uint32_t>(s / 5)));
  };
  Sequence out;
  full_steps(0, 3);  // warm-up, recording + replay, replay
  out.first_eval = evaluate(model, data, 20, augment);  // batches of 20 and 5: shapes the graph never saw
  model.train();
#if CONVLAB_WITH_CUDA
  CudaContext& ctx = cuda_context(device);
  ctx.workspace(ctx.workspace_bytes() + (size_t{64} << 20));  // as a bigger convolution would
#endif
  step.run(assemble_batch(data, order, 40, 5, augment, true, 3, 9));  // the partial last batch, eager
  full_steps(3, 4);                                                   // replays again
  out.last_eval = evaluate(model, data, 45, augment);
  out.graph_active = step.graph_active();
  for (Variable* p : model.parameters()) out.weights.push_back(p->value().to(cpu()).to_vector<float>());
  return out;
}

}  // namespace

TEST(CudaGraph, MemoryUnderARecordingNeverMoves) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU";
  auto context = create_cuda_context(0);
  const Device gpu(context.get());
  const Sequence eager = interleaved_run(gpu, false);
  const Sequence graph = interleaved_run(gpu, true);
  EXPECT_TRUE(graph.graph_active);
  EXPECT_EQ(eager.first_eval.loss, graph.first_eval.loss);
  EXPECT_EQ(eager.first_eval.accuracy, graph.first_eval.accuracy);
  EXPECT_EQ(eager.last_eval.loss, graph.last_eval.loss);
  EXPECT_EQ(eager.last_eval.accuracy, graph.last_eval.accuracy);
  ASSERT_EQ(eager.weights.size(), graph.weights.size());
  for (size_t i = 0; i < eager.weights.size(); ++i)
    EXPECT_EQ(0, std::memcmp(eager.weights[i].data(), graph.weights[i].data(), eager.weights[i].size() * 4))
        << "parameter " << i;
}

TEST(CudaGraph, OutOfMemoryWhileRecordingIsAClearError) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU";
  auto context = create_cuda_context(0);
  const Device gpu(context.get());
  try {
    capture_step(gpu, [&] { Tensor::empty({int64_t{1} << 42}, DType::f32, gpu); });  // 16 TiB
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("while recording"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--cuda-graph"), std::string::npos) << e.what();
  }
  // The context still works.
  Tensor t = Tensor::full({1000}, DType::f32, gpu, 2.0);
  EXPECT_EQ(t.to(cpu()).to_vector<float>()[999], 2.0f);
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
