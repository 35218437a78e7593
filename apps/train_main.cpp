// convlab-train: a short CPU training of All-CNN-C on generated data (random images whose
// class is encoded in the mean colour), until the CIFAR-10 pipeline is in place.
#include <fmt/core.h>

#include <chrono>

#include "framework/backend/backend.h"
#include "framework/ops/ops.h"
#include "framework/optim/schedule.h"
#include "framework/optim/sgd.h"
#include "models/all_cnn_c.h"

int main() try {
  using namespace convlab;
  models::AllCnnCOptions options;
  options.width1 = 32;
  options.width2 = 64;
  models::AllCnnC model(options);
  fmt::print("{}, widths 32/64: {} parameters\n", model.description(), model.parameter_count());
  const int64_t batch = 32;
  Tensor images = Tensor::empty({batch, 3, 32, 32}, DType::f32, cpu());
  std::vector<int32_t> labels(batch);
  for (int64_t n = 0; n < batch; ++n) {
    labels[n] = static_cast<int32_t>(n % 10);
    for (int64_t i = 0; i < 3 * 1024; ++i)
      images.host<float>()[n * 3072 + i] =
          kernels::random_uniform({1, 0, 0}, n * 3072 + i) - 0.5f + 0.1f * (labels[n] - 4.5f) * (i / 1024 - 1);
  }
  const Tensor label_tensor = Tensor::from_vector<int32_t>({batch}, labels);
  optim::Sgd sgd(model.parameters(), SgdConfig{0.9, true, 2.0, 0.0});
  const Tensor lr = Tensor::from_vector<float>({1}, {0.05f});
  nn::ForwardContext ctx;
  for (int step = 0; step < 20; ++step) {
    const auto start = std::chrono::steady_clock::now();
    ctx.step = static_cast<uint32_t>(step);
    model.zero_grad();
    Variable logits = model.forward(Variable(images.clone()), ctx);
    Variable loss = ops::add(ops::softmax_cross_entropy(logits, label_tensor), optim::l2_penalty(model.parameters(), 1e-4));
    loss.backward();
    sgd.step(lr);
    Tensor correct = Tensor::zeros({1}, DType::f32, cpu());
    cpu_backend().count_correct(logits.value(), label_tensor, correct);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    fmt::print("step {:2d}  loss {:.4f}  accuracy {:5.1f}%  {:.0f} ms\n", step, loss.value().item(),
               100.0 * correct.item() / batch, 1000 * seconds);
  }
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "convlab-train: {}\n", e.what());
  return 1;
}
