// Training steps on the GPU: replaying a recorded CUDA graph gives the same weights as eager
// steps, in fp32 and in bf16 channels_last, and the same steps twice give the same bits; a
// step recorded before any eager step (its convolution shapes first seen while recording)
// does too; memory a graph points at survives evaluation at another batch size, a partial
// batch and a grown convolution workspace; and running out of memory while recording is a
// clear error. Skips without a GPU; the lifetime test belongs under compute-sanitizer
// (tools/gpu-check.sh), which sees a replay that writes freed memory even when the numbers
// happen to come out right.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>

#include "framework/backend/backend.h"
#include "framework/backend/cuda_device.h"
#include "framework/ops/ops.h"
#include "framework/train/evaluate.h"
#include "framework/train/train_step.h"
#include "models/all_cnn_c.h"

#include "tests/support/synthetic_data.h"

#if CONVLAB_WITH_CUDA
#include "framework/backend/cuda/cuda_context.h"
#endif

using namespace convlab;

namespace {

using Weights = std::vector<std::vector<float>>;

// Weights after `steps` updates of a narrow All-CNN-C (dropout on) on synthetic batches that
// come in `input`'s storage (the model then runs in it).
Weights train(Device device, bool use_graph, int steps, BatchStorage input = {}) {
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
  options.input = input;
  TrainStep step(model, sgd, options, device, 0);
  step.set_lr(0.05);
  const ImageSet set = test_support::random_image_set(32, 4);
  const DeviceImageSet data = upload(set, device);
  const Tensor order = identity_order(32, device);
  const kernels::AugmentConfig augment = kernels::cifar10_augment_config(true, true, true);
  for (int s = 0; s < steps; ++s)
    step.run(assemble_batch(data, order, (s % 4) * 8, 8, augment, true, 3, s / 4, input));
  EXPECT_EQ(step.graph_active(), use_graph);
  Weights weights;
  for (Variable* p : model.parameters()) weights.push_back(p->value().to(cpu()).to_vector<float>());
  return weights;
}

void expect_bitwise_equal(const Weights& a, const Weights& b, const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].size(), b[i].size()) << what << ", parameter " << i;
    EXPECT_EQ(0, std::memcmp(a[i].data(), b[i].data(), a[i].size() * 4)) << what << ", parameter " << i;
  }
}

constexpr BatchStorage kBf16ChannelsLast{DType::bf16, MemoryFormat::channels_last};

}  // namespace

TEST(CudaGraph, ReplaysMatchEagerStepsAndRepeatBitwise) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU";
  auto context = create_cuda_context(0);
  const Device gpu(context.get());
  const Weights eager = train(gpu, false, 6);
  const Weights eager_again = train(gpu, false, 6);
  const Weights graph = train(gpu, true, 6);  // 1 eager warm-up, then 5 replays
  expect_bitwise_equal(eager, eager_again, "eager twice");
  expect_bitwise_equal(eager, graph, "graph replays against eager steps");
}

TEST(CudaGraph, Bf16ChannelsLastReplaysMatchEagerStepsAndRepeatBitwise) {
  // bf16 activations and convolution weights in NHWC (the master weights stay f32): the
  // storage casts, the channels_last convolutions (graph-API engines for the stride-2 SAME
  // ones) and their workspaces are recorded and replayed like the f32 step.
  if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU";
  auto context = create_cuda_context(0);
  const Device gpu(context.get());
  const Weights eager = train(gpu, false, 6, kBf16ChannelsLast);
  const Weights eager_again = train(gpu, false, 6, kBf16ChannelsLast);
  const Weights graph = train(gpu, true, 6, kBf16ChannelsLast);  // 1 eager warm-up, then 5 replays
  expect_bitwise_equal(eager, eager_again, "eager twice");
  expect_bitwise_equal(eager, graph, "graph replays against eager steps");
}

namespace {

// The body of one training step as TrainStep queues it (forward, mean cross-entropy, backward,
// clipped Nesterov SGD with the L2 penalty inside, the step counter that keys dropout), on
// fixed input buffers. TrainStep runs its first full batch eagerly and records at the second;
// with `record_at_once`, this records at the very first step instead, so every convolution
// shape is first seen while recording, then replays the recording for each step. Otherwise
// every step runs eagerly. Returns the weights after `steps` updates.
Weights bare_steps(Device device, BatchStorage input, bool record_at_once, int steps) {
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
  const Tensor lr = Tensor::full({1}, DType::f32, device, 0.05);
  Tensor counter = Tensor::zeros({1}, DType::i32, device);
  Tensor images = Tensor::empty({8, 3, 32, 32}, input.dtype, device, input.format);
  Tensor labels = Tensor::empty({8}, DType::i32, device);
  auto body = [&] {
    nn::ForwardContext ctx;
    ctx.seed = 3;
    ctx.step_counter = &counter;
    Variable x(std::move(images));
    const Variable logits = model.forward(x, ctx);
    Variable loss = ops::softmax_cross_entropy(logits, labels);
    loss.backward();
    sgd.step(lr);
    backend(device).increment(counter, 1);
    images = std::move(x.mutable_value());
  };
  const ImageSet set = test_support::random_image_set(32, 4);
  const DeviceImageSet data = upload(set, device);
  const Tensor order = identity_order(32, device);
  const kernels::AugmentConfig augment = kernels::cifar10_augment_config(true, true, true);
  std::unique_ptr<StepGraph> graph;
  for (int s = 0; s < steps; ++s) {
    const Batch batch = assemble_batch(data, order, (s % 4) * 8, 8, augment, true, 3, s / 4, input);
    images.copy_from(batch.images);
    labels.copy_from(batch.labels);
    if (!record_at_once) {
      model.zero_grad();
      body();
      continue;
    }
    if (!graph) {
      model.zero_grad();  // the recording starts from no gradients, as TrainStep's does
      graph = capture_step(device, body);
    }
    graph->replay();
  }
  Weights weights;
  for (Variable* p : model.parameters()) weights.push_back(p->value().to(cpu()).to_vector<float>());
  return weights;
}

}  // namespace

TEST(CudaGraph, RecordingBeforeAnyEagerStepMatchesEagerSteps) {
  // The convolutions meet their shapes for the first time while the step is recorded, where
  // nothing may wait for the device: the recording must not throw, and its replays must
  // compute what eager steps with the same algorithms compute. The eager steps run on a
  // second context pinned to the recording's choices (timing there might pick others, which
  // round differently), in fp32 and in bf16 channels_last.
  if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU";
  for (const BatchStorage input : {BatchStorage{}, kBf16ChannelsLast}) {
    SCOPED_TRACE(fmt::format("{}, {}", dtype_name(input.dtype), format_name(input.format)));
    auto recording_context = create_cuda_context(0);
    const Device recording(recording_context.get());
    Weights graph;
    try {
      graph = bare_steps(recording, input, true, 6);  // recorded at the first step, replayed 6 times
    } catch (const std::exception& e) {
      FAIL() << "recording a step whose convolution shapes are new: " << e.what();
    }
    std::printf("  choices of the recording (%s, %s):\n", dtype_name(input.dtype), format_name(input.format));
    for (const std::string& line : describe_conv_choices(recording)) std::printf("    %s\n", line.c_str());
    const std::string record = conv_algorithm_record(recording);
    EXPECT_FALSE(record.empty());
    auto eager_context = create_cuda_context(0);
    const Device eager_device(eager_context.get());
    pin_conv_algorithms(eager_device, record, "the recording's choices");
    const Weights eager = bare_steps(eager_device, input, false, 6);
    expect_bitwise_equal(eager, graph, "replays of a step recorded first against eager steps");
    // And the recording context itself goes on eagerly after its graph is gone.
    EXPECT_NO_THROW(bare_steps(recording, input, false, 1));
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
