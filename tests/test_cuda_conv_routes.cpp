// How CUDA convolutions choose and report their route: "not supported" from cuDNN's graph
// API at any stage falls back to the padded copy and says so (through the fault-injection
// seam, CudaContext::set_graph_fault); a few training steps go on with the graph API
// unavailable; a record of the choices pins them in another context, untimed, with the same
// bits; a shape first seen while a CUDA graph is recorded is timed there and replays like
// the eager call; memory that only a timed candidate needed is given back; a bf16
// convolution with a bias rounds once. Skips without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <memory>

#include "framework/backend/backend.h"
#include "framework/backend/cuda_device.h"
#include "framework/backend/step_graph.h"
#include "framework/ops/ops.h"
#include "framework/optim/sgd.h"
#include "models/all_cnn_c.h"
#include "tests/support/gradient_check.h"
#include "tests/support/tensor_compare.h"

#if CONVLAB_WITH_CUDA
#include "framework/backend/cuda/conv_choice.h"
#include "framework/backend/cuda/conv_graph.h"
#include "framework/backend/cuda/conv_report.h"
#include "framework/backend/cuda/cuda_context.h"
#endif

using namespace convlab;

namespace {

using test_support::bitwise_equal;
using test_support::norm_relative_error;

// XLA's SAME at stride 2 on even sizes: pad 0 before, 1 after.
ConvGeometry asymmetric_geometry() { return ConvGeometry::make(4, 32, 16, 16, 48, 3, 3, 2, Padding::same); }

class CudaConvRoutes : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU";
    context_ = create_cuda_context(0);
  }
  Device gpu() { return Device(context_.get()); }
  static Tensor random(Shape shape, uint64_t seed) {
    return test_support::random_tensor(std::move(shape), seed, -2, 2, DType::f32);
  }
  // Forward, backward data and backward filter of g on the GPU, results on the CPU.
  std::vector<Tensor> run_directions(const ConvGeometry& g, DType dtype = DType::f32,
                                     MemoryFormat format = MemoryFormat::contiguous) {
    auto stored = [&](Shape shape, uint64_t seed) {
      const Tensor f32 = random(std::move(shape), seed);
      Tensor out = Tensor::empty(f32.shape(), dtype, cpu(), format);
      cpu_backend().convert(f32, out);
      return out.to(gpu());
    };
    const Shape x_shape{g.batch, g.in_channels, g.in_h, g.in_w}, w_shape{g.out_channels, g.in_channels, g.kernel_h,
                                                                         g.kernel_w};
    const Shape y_shape{g.batch, g.out_channels, g.out_h, g.out_w};
    const Tensor x = stored(x_shape, 301), w = stored(w_shape, 302), grad_y = stored(y_shape, 303);
    Tensor y = Tensor::empty(y_shape, dtype, gpu(), format), grad_x = Tensor::empty(x_shape, dtype, gpu(), format),
           grad_w = Tensor::empty(w_shape, dtype, gpu(), format);
    cuda_backend().conv2d_forward(x, w, nullptr, y, g);
    cuda_backend().conv2d_backward_data(w, grad_y, grad_x, g);
    cuda_backend().conv2d_backward_filter(x, grad_y, grad_w, g);
    std::vector<Tensor> out;
    for (Tensor* t : {&y, &grad_x, &grad_w}) out.push_back(t->to(cpu()));
    return out;
  }
  std::unique_ptr<DeviceContext> context_;
};

#if CONVLAB_WITH_CUDA
CudaContext& cuda_of(const std::unique_ptr<DeviceContext>& context) { return *static_cast<CudaContext*>(context.get()); }

void print_choices(Device device) {
  for (const std::string& line : describe_conv_choices(device)) std::printf("  %s\n", line.c_str());
}
#endif

}  // namespace

TEST_F(CudaConvRoutes, NotSupportedAtAnyStageFallsBackToThePaddedCopyAndSaysSo) {
#if CONVLAB_WITH_CUDA
  const ConvGeometry g = asymmetric_geometry();
  cuda_of(context_).set_allow_tf32(false);
  cuda_of(context_).set_asymmetric_route(CudaContext::AsymmetricRoute::padded_copy);
  const std::vector<Tensor> reference = run_directions(g);
  for (const char* stage : backend_cuda::kGraphStages) {
    SCOPED_TRACE(stage);
    auto context = create_cuda_context(0);
    CudaContext& ctx = cuda_of(context);
    ctx.set_allow_tf32(false);
    ctx.set_asymmetric_route(CudaContext::AsymmetricRoute::graph_api);  // the graph API alone, were it there
    ctx.set_graph_fault(stage);
    std::swap(context_, context);
    std::vector<Tensor> results;
    EXPECT_NO_THROW(results = run_directions(g));
    EXPECT_NO_THROW(results = run_directions(g));  // and again: the fallback is remembered
    const auto choices = backend_cuda::conv_choices(ctx);
    EXPECT_EQ(choices.size(), 3u);
    for (const backend_cuda::ConvChoice& c : choices) {
      EXPECT_EQ(c.route, "legacy, padded copy") << backend_cuda::direction_name(c.direction);
      EXPECT_FALSE(c.graph_unavailable.empty()) << "the fallback must be said";
    }
    print_choices(gpu());
    // The same algorithms may not win the timing in both contexts: within strict fp32.
    ASSERT_EQ(results.size(), reference.size());
    for (size_t i = 0; i < results.size(); ++i) EXPECT_LE(norm_relative_error(reference[i], results[i]), 1e-5);
    std::swap(context_, context);
  }
  // An unknown stage is a clear error.
  EXPECT_THROW(cuda_of(context_).set_graph_fault("finalise"), Error);
#endif
}

namespace {

// Losses and parameters of a few steps of a narrow All-CNN-C (its stride-2 convolutions pad
// 0 before, 1 after).
struct Steps {
  std::vector<double> losses;
  std::vector<Tensor> params;  // on the CPU
};

Steps train_steps(Device device, int steps) {
  models::AllCnnCOptions o;
  o.width1 = 16;
  o.width2 = 32;
  o.seed = 5;
  models::AllCnnC model(o);
  model.to(device);
  const Tensor images = test_support::random_tensor({8, 3, 32, 32}, 71, -2, 2, DType::f32).to(device);
  std::vector<int32_t> label_values(8);
  for (int i = 0; i < 8; ++i) label_values[static_cast<size_t>(i)] = i % 10;
  const Tensor labels = Tensor::from_vector<int32_t>({8}, label_values).to(device);
  optim::Sgd sgd(model.parameters(), SgdConfig{0.9, true, 2.0, 0.0});
  const Tensor lr = Tensor::from_vector<float>({1}, {0.05f}).to(device);
  Steps result;
  nn::ForwardContext ctx;
  ctx.seed = 9;
  for (int step = 0; step < steps; ++step) {
    ctx.step = static_cast<uint32_t>(step);
    model.zero_grad();
    Variable loss = ops::softmax_cross_entropy(model.forward(Variable(images.clone()), ctx), labels);
    result.losses.push_back(loss.value().to(cpu()).item());
    loss.backward();
    sgd.step(lr);
  }
  for (Variable* p : model.parameters()) result.params.push_back(p->value().to(cpu()));
  return result;
}

}  // namespace

TEST_F(CudaConvRoutes, TrainingGoesOnWhenTheGraphApiIsUnavailable) {
#if CONVLAB_WITH_CUDA
  cuda_of(context_).set_allow_tf32(false);
  const Steps normal = train_steps(gpu(), 4);
  auto faulty = create_cuda_context(0);
  cuda_of(faulty).set_allow_tf32(false);
  cuda_of(faulty).set_graph_fault("operation graph");
  Steps fallback;
  ASSERT_NO_THROW(fallback = train_steps(Device(faulty.get()), 4));
  for (const backend_cuda::ConvChoice& c : backend_cuda::conv_choices(cuda_of(faulty))) {
    if (c.geometry.find("stride 2") != std::string::npos) {
      EXPECT_EQ(c.route, "legacy, padded copy");
    }
  }
  print_choices(Device(faulty.get()));
  // Other algorithms may win the timing: the same results within strict fp32.
  ASSERT_EQ(normal.losses.size(), fallback.losses.size());
  for (size_t i = 0; i < normal.losses.size(); ++i)
    EXPECT_NEAR(fallback.losses[i], normal.losses[i], 1e-5 * std::abs(normal.losses[i])) << "step " << i;
  for (size_t i = 0; i < normal.params.size(); ++i)
    EXPECT_LE(norm_relative_error(normal.params[i], fallback.params[i]), 1e-5) << "parameter " << i;
#endif
}

TEST_F(CudaConvRoutes, ARecordPinsTheSameAlgorithmsUntimedWithTheSameBits) {
#if CONVLAB_WITH_CUDA
  for (const DType dtype : {DType::f32, DType::bf16}) {
    SCOPED_TRACE(dtype_name(dtype));
    const MemoryFormat format = dtype == DType::bf16 ? MemoryFormat::channels_last : MemoryFormat::contiguous;
    auto first = create_cuda_context(0);
    std::swap(context_, first);
    const std::vector<Tensor> timed = run_directions(asymmetric_geometry(), dtype, format);
    const std::vector<Tensor> timed_symmetric =
        run_directions(ConvGeometry::make(4, 32, 16, 16, 48, 3, 3, 1, Padding::same), dtype, format);
    const std::string record = conv_algorithm_record(gpu());
    std::swap(context_, first);
    ASSERT_FALSE(record.empty());
    std::printf("%s", record.c_str());

    auto second = create_cuda_context(0);
    std::swap(context_, second);
    pin_conv_algorithms(gpu(), record, "the test's record");
    const std::vector<Tensor> pinned = run_directions(asymmetric_geometry(), dtype, format);
    const std::vector<Tensor> pinned_symmetric =
        run_directions(ConvGeometry::make(4, 32, 16, 16, 48, 3, 3, 1, Padding::same), dtype, format);
    for (const backend_cuda::ConvChoice& c : backend_cuda::conv_choices(cuda_of(context_)))
      EXPECT_TRUE(c.pinned) << c.geometry << " " << backend_cuda::direction_name(c.direction);
    EXPECT_EQ(conv_algorithm_record(gpu()).substr(record.find('\n')), record.substr(record.find('\n')));
    print_choices(gpu());
    std::swap(context_, second);
    for (size_t i = 0; i < timed.size(); ++i) {
      EXPECT_TRUE(bitwise_equal(timed[i], pinned[i])) << "direction " << i;
      EXPECT_TRUE(bitwise_equal(timed_symmetric[i], pinned_symmetric[i])) << "direction " << i << ", stride 1";
    }
  }
  // A record that does not parse names the source and the line.
  for (const char* bad : {"conv key=1,2 direction=0 route=0 id=1 math=0\n", "conv key=x\n",
                          "# header\nconv key=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18 direction=3 route=0 id=1 "
                          "math=0\n"}) {
    try {
      pin_conv_algorithms(gpu(), bad, "algorithms.txt");
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("algorithms.txt, line"), std::string::npos) << e.what();
    }
  }
#endif
}

TEST_F(CudaConvRoutes, AShapeFirstSeenWhileRecordingIsTimedThereAndReplaysLikeTheEagerCall) {
#if CONVLAB_WITH_CUDA
  const ConvGeometry g = asymmetric_geometry();
  const Tensor x = random({g.batch, g.in_channels, g.in_h, g.in_w}, 401).to(gpu());
  const Tensor w = random({g.out_channels, g.in_channels, g.kernel_h, g.kernel_w}, 402).to(gpu());
  Tensor y = Tensor::empty({g.batch, g.out_channels, g.out_h, g.out_w}, DType::f32, gpu());
  std::unique_ptr<StepGraph> graph;
  ASSERT_NO_THROW(graph = capture_step(gpu(), [&] { cuda_backend().conv2d_forward(x, w, nullptr, y, g); }));
  const auto recorded = backend_cuda::conv_choices(cuda_of(context_));
  graph->replay();
  const Tensor replayed = y.to(cpu());
  Tensor eager = Tensor::empty(y.shape(), DType::f32, gpu());
  cuda_backend().conv2d_forward(x, w, nullptr, eager, g);
  EXPECT_TRUE(bitwise_equal(replayed, eager.to(cpu()))) << "the eager call ran another algorithm";
  const auto after = backend_cuda::conv_choices(cuda_of(context_));
  ASSERT_EQ(recorded.size(), after.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(recorded[i].algorithm, after[i].algorithm);
    EXPECT_GT(after[i].candidates, 0u) << "timed during the recording";
  }
  print_choices(gpu());
#endif
}

TEST_F(CudaConvRoutes, WorkspaceOnlyATimedCandidateNeededIsGivenBack) {
#if CONVLAB_WITH_CUDA
  CudaContext& ctx = cuda_of(context_);
  run_directions(ConvGeometry::make(64, 64, 32, 32, 64, 3, 3, 1, Padding::same));
  run_directions(asymmetric_geometry());
  const size_t needed = backend_cuda::chosen_workspace(ctx);
  const size_t mib = size_t{1} << 20;
  EXPECT_LE(ctx.workspace_bytes(), (needed + mib - 1) / mib * mib);
  // Memory the GPU does not have is a refusal while timing, not the end of the run.
  EXPECT_EQ(ctx.try_workspace(size_t{1} << 50), nullptr);
  EXPECT_NO_THROW(run_directions(asymmetric_geometry()));
#endif
}

TEST_F(CudaConvRoutes, Bf16ConvolutionWithABiasRoundsOnce) {
#if CONVLAB_WITH_CUDA
  // The GPU's bf16 result must be its own fp32 convolution of the same bf16 values plus the
  // bias in fp32, rounded once; and within a bf16 rounding of the CPU's.
  for (const MemoryFormat format : {MemoryFormat::contiguous, MemoryFormat::channels_last})
    for (const int64_t stride : {1, 2}) {
      SCOPED_TRACE(fmt::format("{} stride {}", format_name(format), stride));
      const ConvGeometry g = ConvGeometry::make(4, 16, 12, 12, 24, 3, 3, stride, Padding::same);
      const Shape x_shape{g.batch, g.in_channels, g.in_h, g.in_w}, w_shape{g.out_channels, g.in_channels, 3, 3};
      const Shape y_shape{g.batch, g.out_channels, g.out_h, g.out_w};
      auto bf16 = [&](const Tensor& f32) {
        Tensor out = Tensor::empty(f32.shape(), DType::bf16, cpu(), format);
        cpu_backend().convert(f32, out);
        return out;
      };
      const Tensor x = bf16(random(x_shape, 501)), w = bf16(random(w_shape, 502));
      const Tensor bias = random({g.out_channels}, 503);
      const Tensor bias_gpu = bias.to(gpu());
      Tensor y_gpu = Tensor::empty(y_shape, DType::bf16, gpu(), format);
      cuda_backend().conv2d_forward(x.to(gpu()), w.to(gpu()), &bias_gpu, y_gpu, g);
      // The same convolution in fp32 on the GPU, the bias added in fp32 and rounded on the host.
      auto f32 = [&](const Tensor& t) {
        Tensor out = Tensor::empty(t.shape(), DType::f32, cpu(), format);
        cpu_backend().convert(t, out);
        return out.to(gpu());
      };
      Tensor y32 = Tensor::empty(y_shape, DType::f32, gpu(), format);
      cuda_backend().conv2d_forward(f32(x), f32(w), nullptr, y32, g);
      Tensor sum = Tensor::empty(y_shape, DType::f32, cpu());  // (N, K, OH, OW) contiguous
      cpu_backend().convert(y32.to(cpu()), sum);
      float* v = sum.host<float>();
      const int64_t plane = g.out_h * g.out_w;
      for (int64_t i = 0; i < sum.numel(); ++i) v[i] += bias.host<float>()[i / plane % g.out_channels];
      Tensor expected = Tensor::empty(y_shape, DType::bf16, cpu(), format);
      cpu_backend().convert(sum, expected);
      EXPECT_TRUE(bitwise_equal(expected, y_gpu.to(cpu())));
      Tensor y_cpu = Tensor::empty(y_shape, DType::bf16, cpu(), format);
      cpu_backend().conv2d_forward(x, w, &bias, y_cpu, g);
      EXPECT_LE(norm_relative_error(y_cpu, y_gpu.to(cpu())), 4e-3) << "bf16 rounding of the CPU's result";
    }
#endif
}
