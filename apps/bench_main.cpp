// convlab-bench: times one All-CNN-C training step (forward, loss + L2, backward, clipped
// Nesterov SGD) on synthetic data already on the device, and evaluation throughput.
//
//   convlab-bench [--device cpu|cuda] [--depth 1] [--batch 128] [--steps 10] [--warmup 2]
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "framework/backend/backend.h"
#include "framework/backend/cuda_device.h"
#include "framework/ops/ops.h"
#include "framework/optim/sgd.h"
#include "models/all_cnn_c.h"
#include "framework/nn/init.h"

namespace {

using namespace convlab;

struct Args {
  std::string device = "cpu";
  int depth = 1;
  int64_t batch = 128;
  int steps = 10;
  int warmup = 2;
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
    else if (key == "--depth") a.depth = std::stoi(value());
    else if (key == "--batch") a.batch = std::stoll(value());
    else if (key == "--steps") a.steps = std::stoi(value());
    else if (key == "--warmup") a.warmup = std::stoi(value());
    else CONVLAB_FAIL("unknown option {} (options: --device, --depth, --batch, --steps, --warmup)", key);
  }
  return a;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) try {
  const Args args = parse(argc, argv);
  std::unique_ptr<DeviceContext> cuda;
  Device device = cpu();
  if (args.device == "cuda") {
    cuda = create_cuda_context(0);
    device = Device(cuda.get());
  } else {
    CONVLAB_CHECK(args.device == "cpu", "--device is cpu or cuda, not {}", args.device);
  }
  models::AllCnnCOptions options;
  options.depth = args.depth;
  models::AllCnnC model(options);
  model.to(device);
  Tensor host_images = Tensor::empty({args.batch, 3, 32, 32}, DType::f32, cpu());
  nn::fill_normal(host_images, 1.0, /*seed=*/1, /*tensor_id=*/0);
  const Tensor images = host_images.to(device);
  std::vector<int32_t> label_values(args.batch);
  for (int64_t i = 0; i < args.batch; ++i) label_values[i] = static_cast<int32_t>(i % 10);
  const Tensor labels = Tensor::from_vector<int32_t>({args.batch}, label_values).to(device);
  optim::Sgd sgd(model.parameters(), SgdConfig{0.9, true, 2.0, 0.0});
  const Tensor lr = Tensor::from_vector<float>({1}, {0.1f}).to(device);
  nn::ForwardContext ctx;

  std::vector<double> times;
  for (int step = 0; step < args.warmup + args.steps; ++step) {
    const auto start = std::chrono::steady_clock::now();
    ctx.step = static_cast<uint32_t>(step);
    model.zero_grad();
    Variable loss = ops::add(ops::softmax_cross_entropy(model.forward(Variable(images.clone()), ctx), labels),
                             optim::l2_penalty(model.parameters(), 1e-4));
    loss.backward();
    sgd.step(lr);
    device.context().synchronize();
    if (step >= args.warmup)
      times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  const double step_s = median(times);
  const double gflop_per_image = args.depth == 1 ? 0.542 : args.depth == 2 ? 1.603 : 0.0;
  fmt::print("device {}  All-CNN-C depth {}  batch {}\n", device.name(), args.depth, args.batch);
  fmt::print("training step: {:.2f} ms median of {}  ({:.0f} images/s)", 1e3 * step_s, times.size(),
             args.batch / step_s);
  if (gflop_per_image > 0)
    fmt::print("  ~{:.1f} GFLOP/s (training ~3x forward {:.3f} GFLOP/image)",
               3 * gflop_per_image * args.batch / step_s, gflop_per_image);
  fmt::print("\n");
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "convlab-bench: {}\n", e.what());
  return 1;
}
