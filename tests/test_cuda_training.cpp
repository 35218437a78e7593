// Training and evaluation of the real depth-1 All-CNN-C (96/192 channels) on the GPU against
// the CPU, from the same weights on the same batches (augmentation and data order are
// bit-identical on both devices). Skips without a GPU.
//
// Tolerances:
// - training, 20 updates at batch 32 (SGD Nesterov, clipping at norm 2, the L2 penalty in
//   the optimiser): each update's loss within 5e-3 relative with TF32 convolutions (10-bit
//   operands: ~5e-4 per convolution, compounded over 9 layers and 20 steps) and 1e-4 in
//   strict fp32; per parameter tensor, the displacement w_20 - w_0 on the GPU within 2e-2
//   (TF32) / 1e-3 (fp32) of the CPU's, as ||d_gpu - d_cpu|| / ||d_cpu|| (weights themselves
//   would hide a wrong gradient: 20 small steps barely move them);
// - evaluation of 200 images: the mean loss within 2e-3 (TF32) / 1e-5 (fp32) relative, and
//   accuracies at most 2 (TF32) / 1 (fp32) of the 200 predictions apart (near-ties may flip).
#include <gtest/gtest.h>

#include <cmath>

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

constexpr int64_t kBatch = 32;

ImageSet synthetic_set(int64_t count, uint64_t key) {
  ImageSet set = test_support::random_image_set(count, key);
  for (int64_t i = 0; i < count; ++i) set.labels[i] = static_cast<uint8_t>(kernels::random_below({key, 1, 0}, i, 10));
  return set;
}

std::vector<Tensor> weights_of(nn::Model& model) {
  std::vector<Tensor> out;
  for (Variable* p : model.parameters()) out.push_back(p->value().to(cpu()));
  return out;
}

struct Trained {
  std::vector<double> losses;  // per update
  std::vector<Tensor> start, end;
};

Trained train_steps(Device device, int steps) {
  models::AllCnnCOptions o;  // depth 1, 96/192 channels, BatchNorm, no dropout (v2)
  o.seed = 21;
  models::AllCnnC model(o);
  model.to(device);
  SgdConfig sgd_config{0.9, true, 2.0, 0.0};
  sgd_config.l2 = 1e-4;
  optim::Sgd sgd(model.parameters(), sgd_config);
  StepOptions options;
  options.seed = 21;
  options.batch_size = kBatch;
  TrainStep step(model, sgd, options, device, 0);
  step.set_lr(0.05);
  const DeviceImageSet data = upload(synthetic_set(4 * kBatch, 31), device);
  const Tensor order = identity_order(data.size(), device);
  const kernels::AugmentConfig augment = kernels::cifar10_augment_config(true, true, true);
  Trained out;
  out.start = weights_of(model);
  for (int s = 0; s < steps; ++s) {
    step.reset_sums();
    step.run(assemble_batch(data, order, (s % 4) * kBatch, kBatch, augment, true, 21, static_cast<uint32_t>(s / 4)));
    out.losses.push_back(step.mean_loss(kBatch));
  }
  out.end = weights_of(model);
  return out;
}

double displacement_error(const Tensor& start, const Tensor& cpu_end, const Tensor& gpu_end) {
  const float* s = start.host<float>();
  const float* a = cpu_end.host<float>();
  const float* b = gpu_end.host<float>();
  double diff = 0, norm = 0;
  for (int64_t i = 0; i < start.numel(); ++i) {
    const double da = double(a[i]) - s[i], db = double(b[i]) - s[i];
    diff += (da - db) * (da - db);
    norm += da * da;
  }
  return norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

class CudaTraining : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU";
    context_ = create_cuda_context(0);
  }
  Device gpu() { return Device(context_.get()); }
  void set_allow_tf32(bool allow) {
#if CONVLAB_WITH_CUDA
    static_cast<CudaContext*>(context_.get())->set_allow_tf32(allow);
#else
    (void)allow;
#endif
  }

  void check_training(bool tf32, double loss_tolerance, double displacement_tolerance) {
    set_allow_tf32(tf32);
    const Trained on_cpu = train_steps(cpu(), 20), on_gpu = train_steps(gpu(), 20);
    ASSERT_EQ(on_cpu.losses.size(), on_gpu.losses.size());
    for (size_t i = 0; i < on_cpu.losses.size(); ++i)
      EXPECT_NEAR(on_gpu.losses[i], on_cpu.losses[i], loss_tolerance * std::abs(on_cpu.losses[i])) << "update " << i;
    ASSERT_EQ(on_cpu.end.size(), on_gpu.end.size());
    for (size_t i = 0; i < on_cpu.end.size(); ++i)
      EXPECT_LE(displacement_error(on_cpu.start[i], on_cpu.end[i], on_gpu.end[i]), displacement_tolerance)
          << "parameter " << i;
  }

  void check_evaluation(bool tf32, double loss_tolerance, int64_t differing_predictions) {
    set_allow_tf32(tf32);
    models::AllCnnCOptions o;
    o.seed = 22;
    models::AllCnnC on_cpu(o), on_gpu(o);
    // Running statistics away from their initial 0 and 1, as after training.
    for (auto& [name, buffer] : on_cpu.named_buffers()) {
      std::vector<float> v = buffer->to_vector<float>();
      for (size_t j = 0; j < v.size(); ++j)
        v[j] = name.find("running_var") != std::string::npos ? 0.5f + 0.01f * float(j % 50) : 0.02f * float(j % 7);
      buffer->copy_from(Tensor::from_vector<float>(buffer->shape(), v));
    }
    on_gpu.to(gpu());
    auto cpu_buffers = on_cpu.named_buffers();
    auto gpu_buffers = on_gpu.named_buffers();
    for (size_t i = 0; i < cpu_buffers.size(); ++i) gpu_buffers[i].second->copy_from(*cpu_buffers[i].second);
    const ImageSet set = synthetic_set(200, 41);
    const kernels::AugmentConfig augment = kernels::cifar10_augment_config(true, true, true);
    const EvalResult a = evaluate(on_cpu, upload(set, cpu()), 64, augment);
    const EvalResult b = evaluate(on_gpu, upload(set, gpu()), 64, augment);
    EXPECT_NEAR(b.loss, a.loss, loss_tolerance * std::abs(a.loss));
    EXPECT_LE(std::llround(std::abs(a.accuracy - b.accuracy) * 200), differing_predictions);
  }

  std::unique_ptr<DeviceContext> context_;
};

}  // namespace

TEST_F(CudaTraining, Tf32TrainingMatchesTheCpu) { check_training(true, 5e-3, 2e-2); }

TEST_F(CudaTraining, StrictFp32TrainingMatchesTheCpu) { check_training(false, 1e-4, 1e-3); }

TEST_F(CudaTraining, Tf32EvaluationMatchesTheCpu) { check_evaluation(true, 2e-3, 2); }

TEST_F(CudaTraining, StrictFp32EvaluationMatchesTheCpu) { check_evaluation(false, 1e-5, 1); }
