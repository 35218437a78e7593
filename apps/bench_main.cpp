// convlab-bench: times training steps of All-CNN-C or ResNet-20 (forward, loss, backward,
// clipped Nesterov SGD with the L2 penalty, with GPU-side batch assembly and augmentation) on
// synthetic data already on the device, evaluation throughput, and a per-op breakdown of one
// step. On CUDA it times the step with deterministic convolution algorithms only and, with
// --algorithms both (the default there), again with non-deterministic ones admitted.
//
//   convlab-bench [--device auto|cpu|cuda] [--model all_cnn_c|resnet20] [--depth 1] [--batch 128]
//                 [--steps 20] [--warmup 3] [--eval-batch 1000] [--breakdown] [--cuda-graph]
//                 [--algorithms deterministic|all|both] [--conv-choices] [--sync-each-op]
//                 [--versions]
//   convlab-bench --analysis ...   (representation analysis instead: apps/bench_analysis.h)
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "apps/bench_analysis.h"
#include "apps/bench_breakdown.h"
#include "apps/bench_model.h"
#include "framework/backend/backend.h"
#include "framework/backend/cuda_device.h"
#include "framework/core/host_allocator.h"
#include "framework/core/version.h"
#include "framework/io/cli_numbers.h"
#include "framework/ops/ops.h"
#include "framework/optim/sgd.h"
#include "framework/train/batches.h"
#include "framework/train/precision.h"
#include "framework/train/train_step.h"
#include "models/registry.h"

namespace {

using namespace convlab;
using Clock = std::chrono::steady_clock;

constexpr const char* kUsage = R"(usage: convlab-bench [options]

Times training steps and evaluation on synthetic CIFAR-sized data resident on the device.

options:
  --device cpu|cuda        where to run (default cpu)
  --model NAME             all_cnn_c (default) or resnet20
  --depth N                All-CNN-C depth (default 1)
  --batch N                training batch (default 128)
  --steps N                timed steps (default 20), in blocks of 10
  --warmup N               untimed steps first (default 3)
  --eval-batch N           evaluation batch (default 1000)
  --breakdown              every op of a step timed alone, with the rest of the step
  --cuda-graph             replay each step as one CUDA graph
  --algorithms MODE        CUDA convolutions: deterministic (only those), all (also
                           non-deterministic ones when faster) or both: time the step
                           each way (default on CUDA: both)
  --precision P            fp32, tf32 (default) or bf16, as train_config.precision
  --memory-format F        auto (default: nhwc for bf16 on CUDA), nchw or nhwc
  --conv-choices           print the route and algorithm chosen per convolution
  --sync-each-op           wait for and check every op (diagnosis; slow)
  --versions               print the driver, runtime, cuDNN and cuBLAS versions and exit
  --analysis               time CKA, RSA and Procrustes between layers instead (its own
                           options: convlab-bench --analysis --help)
  -h, --help               this text
)";

struct Args {
  std::string device = "auto";  // CUDA when a GPU answers, else the CPU
  std::string model = "all_cnn_c";  // a name models::make_model knows
  int depth = 1;
  int64_t batch = 128;
  int steps = 20;
  int warmup = 3;
  int64_t eval_batch = 1000;
  bool breakdown = false;
  bool cuda_graph = false;
  std::string algorithms;  // empty: both on CUDA, deterministic elsewhere
  bool conv_choices = false;
  bool sync_each_op = false;
  bool versions = false;
  Precision precision = Precision::tf32;
  ActivationLayout memory_format = ActivationLayout::auto_;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    auto value = [&]() -> std::string {
      CONVLAB_CHECK(i + 1 < argc, "{} needs a value (see --help)", key);
      return argv[++i];
    };
    if (key == "-h" || key == "--help") {
      fmt::print("{}", kUsage);
      std::exit(0);
    } else if (key == "--device") a.device = value();
    else if (key == "--model") a.model = value();
    else if (key == "--depth") a.depth = static_cast<int>(parse_int_flag(key, value(), 1, 64));
    else if (key == "--batch") a.batch = parse_int_flag(key, value(), 1, 65536);
    else if (key == "--steps") a.steps = static_cast<int>(parse_int_flag(key, value(), 1, 1'000'000));
    else if (key == "--warmup") a.warmup = static_cast<int>(parse_int_flag(key, value(), 1, 1'000'000));
    else if (key == "--eval-batch") a.eval_batch = parse_int_flag(key, value(), 1, 65536);
    else if (key == "--breakdown") a.breakdown = true;
    else if (key == "--cuda-graph") a.cuda_graph = true;
    else if (key == "--algorithms") {
      a.algorithms = value();
      CONVLAB_CHECK(a.algorithms == "deterministic" || a.algorithms == "all" || a.algorithms == "both",
                    "--algorithms is deterministic, all or both, not '{}'", a.algorithms);
    } else if (key == "--conv-choices") a.conv_choices = true;
    else if (key == "--sync-each-op") a.sync_each_op = true;
    else if (key == "--precision") a.precision = parse_precision(value());
    else if (key == "--memory-format") a.memory_format = parse_activation_layout(value());
    else if (key == "--versions") a.versions = true;
    else CONVLAB_FAIL("unknown option {} (see --help)", key);
  }
  return a;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Synthetic CIFAR-sized uint8 images on the device, as the training loop keeps them.
DeviceImageSet synthetic_images(int64_t count, Device device) {
  ImageSet set;
  set.images.resize(static_cast<size_t>(count) * 3072);
  set.labels.resize(static_cast<size_t>(count));
  for (size_t i = 0; i < set.images.size(); ++i) set.images[i] = static_cast<uint8_t>(kernels::random_u32({9, 0, 0}, i));
  for (int64_t i = 0; i < count; ++i) set.labels[static_cast<size_t>(i)] = static_cast<uint8_t>(i % 10);
  return upload(set, device);
}

// One measurement on a fresh device: the training step and evaluation, then (if asked) the
// breakdown and the convolution choices.
void measure(const Args& args, bool deterministic, bool details) {
  CudaOptions cuda;
  cuda.deterministic = deterministic;
  cuda.sync_each_op = args.sync_each_op;
  cuda.allow_tf32 = args.precision != Precision::fp32;
  const DeviceHandle handle(args.device, cuda);
  const Device device = handle.device();
  const PrecisionPlan precision = precision_plan(args.precision, args.memory_format, device);
  fmt::print("convlab {}: device {}\n", version(), handle.choice());
  ModelSection section;
  section.name = args.model;
  section.depth = args.depth;  // All-CNN-C only
  const std::unique_ptr<nn::Model> built = models::make_model(section, 0);
  nn::Model& model = *built;
  model.to(device);
  const DeviceImageSet images = synthetic_images(std::max<int64_t>(args.batch, 1024), device);
  const Tensor order = identity_order(images.size(), device);
  const kernels::AugmentConfig augment = kernels::cifar10_augment_config(true, true, true);
  SgdConfig sgd_config{0.9, true, 2.0, 0.0};
  sgd_config.l2 = 1e-4;  // the reference's penalty, inside the optimiser as in training
  optim::Sgd sgd(model.parameters(), sgd_config);
  StepOptions step_options;
  step_options.seed = 1;
  step_options.batch_size = args.batch;
  step_options.use_graph = args.cuda_graph;
  step_options.input = precision.batch;
  TrainStep train_step(model, sgd, step_options, device, 0);
  train_step.set_lr(0.01);

  // Training steps, timed in blocks of 10 (one wait for the device per block, as in training).
  const int64_t batches = images.size() / args.batch;
  auto run_steps = [&](int first, int count) {
    for (int s = first; s < first + count; ++s)
      train_step.run(assemble_batch(images, order, (s % batches) * args.batch, args.batch, augment, true, 1,
                                    static_cast<uint32_t>(s / batches), precision.batch));
  };
  run_steps(0, args.warmup);
  device.context().synchronize();
  std::vector<double> times;
  const int block = std::min(10, args.steps);
  for (int done = 0; done < args.steps; done += block) {
    const auto start = Clock::now();
    run_steps(args.warmup + done, block);
    device.context().synchronize();
    times.push_back(std::chrono::duration<double>(Clock::now() - start).count() / block);
  }
  CONVLAB_CHECK(train_step.first_bad_step() < 0, "the benchmark's loss became NaN");
  const double step_s = median(times);
  const double gflop = bench::gflop_per_image(model);  // 0.541 (All-CNN-C depth 1), 1.603 (depth 2), 0.0816 (ResNet-20)
  const std::string mode = device.is_cuda() ? (deterministic ? ", deterministic algorithms" : ", all algorithms") : "";
  fmt::print("device {}  {} ({:.4f} GFLOP per image forward)  batch {}{}{}  {}\n", device.name(),
             model.description(), gflop, args.batch, train_step.graph_active() ? "  (CUDA graph)" : "", mode,
             describe(precision));
  // The autograd graph of one step's forward and loss (the penalty is not in it: the optimiser
  // adds its gradient), and the ops a CUDA graph replays.
  int64_t autograd_nodes = 0;
  {
    Batch batch = assemble_batch(images, order, 0, args.batch, augment, true, 1, 0, precision.batch);
    nn::ForwardContext ctx;
    autograd_nodes = count_graph_nodes(
        ops::softmax_cross_entropy(model.forward(Variable(std::move(batch.images)), ctx), batch.labels));
  }
  fmt::print("step graph: {} autograd nodes{}\n", autograd_nodes,
             train_step.graph_active() ? fmt::format(", {} CUDA graph nodes", train_step.graph_nodes()) : "");
  fmt::print("training step: {:.3f} ms (median of {})  {:.0f} images/s", 1e3 * step_s, times.size(),
             static_cast<double>(args.batch) / step_s);
  if (device.is_cuda()) {
    const double flop = 3 * gflop * 1e9 * static_cast<double>(args.batch);
    const double floor_s = flop / 790e12;  // the arithmetic floor at H200/H100 dense bf16 peak
    fmt::print("  {:.1f} TFLOP/s; {:.1f}x the arithmetic floor ({:.3f} ms at 790 TFLOP/s)", flop / step_s / 1e12,
               step_s / floor_s, 1e3 * floor_s);
  }
  fmt::print("\n");

  // Evaluation throughput (eval mode, no graph), median of several batches.
  {
    model.eval();
    NoGradGuard no_grad;
    const int64_t eval_batch = std::min(args.eval_batch, images.size());
    nn::ForwardContext eval_ctx;
    auto forward = [&] {
      Batch batch = assemble_batch(images, order, 0, eval_batch, augment, false, 0, 0, precision.batch);
      model.forward(Variable(std::move(batch.images)), eval_ctx);
    };
    forward();
    device.context().synchronize();
    std::vector<double> eval_times;
    for (int r = 0; r < (device.is_cpu() ? 1 : 10); ++r) {
      const auto start = Clock::now();
      forward();
      device.context().synchronize();
      eval_times.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    }
    const double eval_s = median(eval_times);
    fmt::print("evaluation: batch {}  {:.3f} ms  {:.0f} images/s\n", eval_batch, 1e3 * eval_s,
               static_cast<double>(eval_batch) / eval_s);
    model.train();
  }
  if (details && args.breakdown) bench::print_breakdown(model, args.batch, device, step_s, precision.batch);
  if (details && args.conv_choices) {
    fmt::print("\nconvolutions (direction, shape, settings, route: choice):\n");
    for (const std::string& line : describe_conv_choices(device)) fmt::print("  {}\n", line);
  }
}

}  // namespace

int main(int argc, char** argv) try {
  return_large_blocks_to_the_system();
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--analysis") return bench::run_analysis_benchmark(argc, argv);
  const Args args = parse(argc, argv);
  if (args.versions) {
    fmt::print("{}\n", cuda_versions());
    return 0;
  }
  const bool cuda = args.device == "cuda";
  const std::string algorithms = args.algorithms.empty() ? (cuda ? "both" : "deterministic") : args.algorithms;
  // --breakdown and --conv-choices describe the first measurement only.
  if (algorithms != "all") measure(args, true, true);
  if (cuda && algorithms != "deterministic") {
    if (algorithms == "both") fmt::print("\n");
    measure(args, false, algorithms == "all");
  }
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "convlab-bench: {}\n", e.what());
  return 1;
}
