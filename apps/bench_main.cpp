// convlab-bench: times training steps of All-CNN-C or ResNet-20 (forward, loss + L2, backward,
// clipped Nesterov SGD, with GPU-side batch assembly and augmentation) on synthetic data
// already on the device, evaluation throughput, and a per-op breakdown of one step.
//
//   convlab-bench [--device cpu|cuda] [--model all_cnn_c|resnet20] [--depth 1] [--batch 128]
//                 [--steps 20] [--warmup 3] [--eval-batch 1000] [--breakdown] [--cuda-graph]
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "framework/backend/backend.h"
#include "framework/backend/cuda_device.h"
#include "framework/io/cli_numbers.h"
#include "framework/nn/init.h"
#include "framework/ops/ops.h"
#include "framework/optim/sgd.h"
#include "framework/train/batches.h"
#include "framework/train/train_step.h"
#include "models/all_cnn_c.h"
#include "models/registry.h"
#include "models/resnet.h"

namespace {

using namespace convlab;
using Clock = std::chrono::steady_clock;

struct Args {
  std::string device = "cpu";
  std::string model = "all_cnn_c";  // a name models::make_model knows
  int depth = 1;
  int64_t batch = 128;
  int steps = 20;
  int warmup = 3;
  int64_t eval_batch = 1000;
  bool breakdown = false;
  bool cuda_graph = false;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    auto value = [&]() -> std::string {
      CONVLAB_CHECK(i + 1 < argc, "{} needs a value", key);
      return argv[++i];
    };
    if (key == "--device") a.device = value();
    else if (key == "--model") a.model = value();
    else if (key == "--depth") a.depth = static_cast<int>(parse_int_flag(key, value(), 1, 64));
    else if (key == "--batch") a.batch = parse_int_flag(key, value(), 1, 65536);
    else if (key == "--steps") a.steps = static_cast<int>(parse_int_flag(key, value(), 1, 1'000'000));
    else if (key == "--warmup") a.warmup = static_cast<int>(parse_int_flag(key, value(), 0, 1'000'000));
    else if (key == "--eval-batch") a.eval_batch = parse_int_flag(key, value(), 1, 65536);
    else if (key == "--breakdown") a.breakdown = true;
    else if (key == "--cuda-graph") a.cuda_graph = true;
    else CONVLAB_FAIL("unknown option {} (options: --device, --model, --depth, --batch, --steps, --warmup, --eval-batch, "
                      "--breakdown)", key);
  }
  return a;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median seconds of `reps` runs of f, each synchronised.
double time_it(Device device, int reps, const std::function<void()>& f) {
  std::vector<double> times;
  f();  // warm-up (algorithm selection, allocations)
  device.context().synchronize();
  for (int i = 0; i < reps; ++i) {
    const auto start = Clock::now();
    f();
    device.context().synchronize();
    times.push_back(std::chrono::duration<double>(Clock::now() - start).count());
  }
  return median(times);
}

// Synthetic CIFAR-sized uint8 images on the device, as the training loop keeps them.
DeviceImageSet synthetic_images(int64_t count, Device device) {
  ImageSet set;
  set.images.resize(static_cast<size_t>(count) * 3072);
  set.labels.resize(static_cast<size_t>(count));
  for (size_t i = 0; i < set.images.size(); ++i) set.images[i] = static_cast<uint8_t>(kernels::random_u32({9, 0, 0}, i));
  for (int64_t i = 0; i < count; ++i) set.labels[i] = static_cast<uint8_t>(i % 10);
  return upload(set, device);
}

// A conv layer with the size of the 32x32-image activations it reads.
struct ConvSite {
  nn::Conv2d* conv;
  int64_t in_size;
  bool relu;  // a ReLU runs at its output size (all but ResNet's projection shortcuts)
};

std::vector<ConvSite> conv_sites(nn::Model& model) {
  std::vector<ConvSite> sites;
  if (auto* resnet = dynamic_cast<models::ResNet*>(&model)) {
    for (const auto& site : resnet->conv_sites()) sites.push_back({site.conv, site.in_size, !site.shortcut});
  } else if (auto* all_cnn = dynamic_cast<models::AllCnnC*>(&model)) {
    int64_t size = 32;  // a chain: each conv reads the one before
    for (nn::Conv2d* conv : all_cnn->convs()) {
      sites.push_back({conv, size, true});
      const Tensor& w = conv->weight().value();
      const ops::ConvSpec& spec = conv->spec();
      size = ConvGeometry::make(1, w.dim(1), size, size, w.dim(0), w.dim(2), w.dim(3), spec.stride, spec.padding,
                                spec.pad).out_h;
    }
  } else {
    CONVLAB_FAIL("the benchmark knows the layers of All-CNN-C and ResNet, not {}", model.description());
  }
  return sites;
}

// Forward multiply-adds per image, times 2: every conv at its site, every linear layer.
double gflop_per_image(nn::Model& model) {
  double flop = 0;
  for (const ConvSite& site : conv_sites(model)) {
    const Tensor& w = site.conv->weight().value();
    const ops::ConvSpec& spec = site.conv->spec();
    const ConvGeometry g = ConvGeometry::make(1, w.dim(1), site.in_size, site.in_size, w.dim(0), w.dim(2), w.dim(3),
                                              spec.stride, spec.padding, spec.pad);
    flop += 2.0 * static_cast<double>(w.numel()) * static_cast<double>(g.out_h * g.out_w);
  }
  for (Variable* p : model.parameters())
    if (p->value().rank() == 2) flop += 2.0 * static_cast<double>(p->value().numel());  // (out, in) weights
  return flop / 1e9;
}

void breakdown(nn::Model& model, const Args& args, Device device) {
  const Backend& be = backend(device);
  const int reps = device.is_cpu() ? 2 : 20;
  std::map<std::string, std::pair<int, double>> rows;  // op -> (calls per step, seconds per step)
  auto add = [&](const std::string& op, double seconds) {
    rows[op].first += 1;
    rows[op].second += seconds;
  };
  auto random_input = [&](Shape shape, uint32_t id) {
    Tensor host = Tensor::empty(std::move(shape), DType::f32, cpu());
    nn::fill_normal(host, 1.0, 3, id);
    return host.to(device);
  };
  // Each layer timed alone at its shapes, on random activations.
  const DeviceImageSet images = synthetic_images(args.batch, device);
  const Tensor order = identity_order(args.batch, device);
  const kernels::AugmentConfig augment = kernels::cifar10_augment_config(true, true, true);
  add("gather_batch (augment)", time_it(device, reps, [&] { assemble_batch(images, order, 0, args.batch, augment, true, 1, 1); }));
  Tensor h;
  uint32_t id = 0;
  for (const ConvSite& site : conv_sites(model)) {
    const Tensor& w = site.conv->weight().value();
    const ops::ConvSpec& spec = site.conv->spec();
    const Tensor x = random_input({args.batch, w.dim(1), site.in_size, site.in_size}, id++);
    const ConvGeometry g = ConvGeometry::make(x.dim(0), x.dim(1), x.dim(2), x.dim(3), w.dim(0), w.dim(2), w.dim(3),
                                              spec.stride, spec.padding, spec.pad);
    Tensor y = Tensor::empty({g.batch, g.out_channels, g.out_h, g.out_w}, DType::f32, device);
    Tensor gx = Tensor::empty(x.shape(), DType::f32, device), gw = Tensor::empty(w.shape(), DType::f32, device);
    add("conv forward", time_it(device, reps, [&] { be.conv2d_forward(x, w, nullptr, y, g); }));
    add("conv backward data", time_it(device, reps, [&] { be.conv2d_backward_data(w, y, gx, g); }));
    add("conv backward filter", time_it(device, reps, [&] { be.conv2d_backward_filter(x, y, gw, g); }));
    const int64_t c = g.out_channels;
    Tensor gamma = Tensor::full({c}, DType::f32, device, 1.0), beta = Tensor::zeros({c}, DType::f32, device);
    Tensor mean = Tensor::zeros({c}, DType::f32, device), inv_std = Tensor::zeros({c}, DType::f32, device);
    Tensor rm = Tensor::zeros({c}, DType::f32, device), rv = Tensor::full({c}, DType::f32, device, 1.0);
    Tensor z = Tensor::empty(y.shape(), DType::f32, device), gz = Tensor::empty(y.shape(), DType::f32, device);
    Tensor gg = Tensor::empty({c}, DType::f32, device), gb = Tensor::empty({c}, DType::f32, device);
    add("batchnorm forward", time_it(device, reps, [&] { be.batchnorm_forward_train(y, gamma, beta, 1e-5, 0.1, z, mean, inv_std, rm, rv); }));
    add("batchnorm backward", time_it(device, reps, [&] { be.batchnorm_backward(y, gamma, mean, inv_std, z, gz, gg, gb); }));
    if (site.relu) {
      add("relu forward", time_it(device, reps, [&] { be.relu_forward(z, y); }));
      add("relu backward", time_it(device, reps, [&] { be.relu_backward(y, z, gz); }));
    }
    h = std::move(y);
  }
  if (dynamic_cast<models::ResNet*>(&model)) {
    // The residual sums, at each block's output (its backward hands the gradient to both branches).
    std::vector<Variable> features;
    nn::ForwardContext ctx;
    ctx.features = &features;
    {
      NoGradGuard no_grad;
      model.eval();
      model.forward(Variable(random_input({args.batch, 3, 32, 32}, id++)), ctx);
      model.train();
    }
    const std::vector<std::string> names = model.feature_names();
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i].rfind("layer", 0) != 0) continue;  // block outputs only
      const Tensor& a = features[i].value();
      Tensor sum = Tensor::empty(a.shape(), DType::f32, device), grad_copy = Tensor::empty(a.shape(), DType::f32, device);
      add("residual add", time_it(device, reps, [&] { be.add(a, a, sum); }));
      add("residual add backward (2 copies)", time_it(device, reps, [&] {
            grad_copy.copy_from(sum);
            grad_copy.copy_from(sum);
          }));
    }
  }
  Tensor pooled = Tensor::empty({h.dim(0), h.dim(1)}, DType::f32, device);
  add("global avg pool", time_it(device, reps, [&] { be.global_avg_pool_forward(h, pooled); }));
  for (Variable* p : model.parameters()) {
    const Tensor& w = p->value();
    if (w.rank() != 2) continue;  // the linear layers (ResNet's classifier)
    const Tensor x = random_input({args.batch, w.dim(1)}, id++);
    Tensor y = Tensor::empty({args.batch, w.dim(0)}, DType::f32, device), gx = Tensor::empty(x.shape(), DType::f32, device);
    Tensor gw = Tensor::empty(w.shape(), DType::f32, device), gb = Tensor::empty({w.dim(0)}, DType::f32, device);
    add("linear forward", time_it(device, reps, [&] { be.linear_forward(x, w, nullptr, y); }));
    add("linear backward (x, w, bias)", time_it(device, reps, [&] {
          be.linear_backward_data(w, y, gx);
          be.linear_backward_weight(x, y, gw);
          be.linear_backward_bias(y, gb);
        }));
    pooled = std::move(y);
  }
  std::vector<int32_t> label_values(args.batch);
  for (int64_t i = 0; i < args.batch; ++i) label_values[i] = static_cast<int32_t>(i % 10);
  const Tensor labels = Tensor::from_vector<int32_t>({args.batch}, label_values).to(device);
  Tensor loss = Tensor::empty({1}, DType::f32, device), probs = Tensor::empty(pooled.shape(), DType::f32, device);
  add("softmax cross-entropy", time_it(device, reps, [&] { be.softmax_xent_forward(pooled, labels, loss, probs); }));
  optim::Sgd sgd(model.parameters(), SgdConfig{0.9, true, 2.0, 0.0});
  for (Variable* p : model.parameters()) p->mutable_grad() = Tensor::zeros(p->shape(), DType::f32, device);
  const Tensor lr = Tensor::full({1}, DType::f32, device, 0.0);
  add("clip + SGD update (all params)", time_it(device, reps, [&] { sgd.step(lr); }));
  double total = 0;
  for (const auto& [op, r] : rows) total += r.second;
  fmt::print("\nper-op breakdown ({} batch {}, each op timed alone at its shapes, synchronised):\n", device.name(),
             args.batch);
  fmt::print("  {:<32} {:>6} {:>12} {:>7}\n", "op", "calls", "ms / step", "share");
  std::vector<std::pair<std::string, std::pair<int, double>>> sorted(rows.begin(), rows.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second.second > b.second.second; });
  for (const auto& [op, r] : sorted)
    fmt::print("  {:<32} {:>6} {:>12.3f} {:>6.1f}%\n", op, r.first, 1e3 * r.second, 100 * r.second / total);
  fmt::print("  {:<32} {:>6} {:>12.3f}\n", "sum", "", 1e3 * total);
}

}  // namespace

int main(int argc, char** argv) try {
  const Args args = parse(argc, argv);
  const DeviceHandle handle(args.device);
  const Device device = handle.device();
  ModelSection section;
  section.name = args.model;
  section.depth = args.depth;  // All-CNN-C only
  const std::unique_ptr<nn::Model> built = models::make_model(section, 0);
  nn::Model& model = *built;
  model.to(device);
  const DeviceImageSet images = synthetic_images(std::max<int64_t>(args.batch, 1024), device);
  const Tensor order = identity_order(images.size(), device);
  const kernels::AugmentConfig augment = kernels::cifar10_augment_config(true, true, true);
  optim::Sgd sgd(model.parameters(), SgdConfig{0.9, true, 2.0, 0.0});
  StepOptions step_options;
  step_options.l2_penalty = 1e-4;
  step_options.seed = 1;
  step_options.batch_size = args.batch;
  step_options.use_graph = args.cuda_graph;
  TrainStep train_step(model, sgd, step_options, device, 0);
  train_step.set_lr(0.01);

  // Training steps, timed in blocks of 10 (one wait for the device per block, as in training).
  const int64_t batches = images.size() / args.batch;
  auto run_steps = [&](int first, int count) {
    for (int s = first; s < first + count; ++s)
      train_step.run(assemble_batch(images, order, (s % batches) * args.batch, args.batch, augment, true, 1,
                                    static_cast<uint32_t>(s / batches)));
  };
  run_steps(0, args.warmup);
  device.context().synchronize();
  std::vector<double> times;
  const int block = std::min(10, std::max(1, args.steps));
  for (int done = 0; done < args.steps; done += block) {
    const auto start = Clock::now();
    run_steps(args.warmup + done, block);
    device.context().synchronize();
    times.push_back(std::chrono::duration<double>(Clock::now() - start).count() / block);
  }
  CONVLAB_CHECK(train_step.first_bad_step() < 0, "the benchmark's loss became NaN");
  const double step_s = median(times);
  const double gflop = gflop_per_image(model);  // 0.541 (All-CNN-C depth 1), 1.603 (depth 2), 0.0816 (ResNet-20)
  fmt::print("device {}  {} ({:.4f} GFLOP per image forward)  batch {}{}\n", device.name(), model.description(), gflop,
             args.batch,
             train_step.graph_active() ? "  (CUDA graph)" : "");
  fmt::print("training step: {:.3f} ms (median of {})  {:.0f} images/s", 1e3 * step_s, times.size(), args.batch / step_s);
  if (device.is_cuda()) {
    const double flop = 3 * gflop * 1e9 * args.batch;
    const double floor_s = flop / 790e12;  // the arithmetic floor at H200/H100 dense bf16 peak
    fmt::print("  {:.1f} TFLOP/s; {:.1f}x the arithmetic floor ({:.3f} ms at 790 TFLOP/s)", flop / step_s / 1e12,
               step_s / floor_s, 1e3 * floor_s);
  }
  fmt::print("\n");

  // Evaluation throughput (eval mode, no graph).
  {
    model.eval();
    NoGradGuard no_grad;
    const int64_t eval_batch = std::min(args.eval_batch, images.size());
    nn::ForwardContext eval_ctx;
    const double eval_s = time_it(device, device.is_cpu() ? 1 : 10, [&] {
      Batch batch = assemble_batch(images, order, 0, eval_batch, augment, false, 0, 0);
      model.forward(Variable(std::move(batch.images)), eval_ctx);
    });
    fmt::print("evaluation: batch {}  {:.3f} ms  {:.0f} images/s\n", eval_batch, 1e3 * eval_s, eval_batch / eval_s);
    model.train();
  }
  if (args.breakdown) breakdown(model, args, device);
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "convlab-bench: {}\n", e.what());
  return 1;
}
