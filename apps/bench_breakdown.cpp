#include "apps/bench_breakdown.h"

#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "apps/bench_model.h"
#include "framework/backend/backend.h"
#include "framework/nn/init.h"
#include "framework/optim/sgd.h"
#include "framework/train/batches.h"
#include "models/resnet.h"

namespace convlab::bench {
namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median seconds of `reps` runs of f, each synchronised, after one warm-up run.
double time_it(Device device, int reps, const std::function<void()>& f) {
  std::vector<double> times;
  f();
  device.context().synchronize();
  for (int i = 0; i < reps; ++i) {
    const auto start = Clock::now();
    f();
    device.context().synchronize();
    times.push_back(std::chrono::duration<double>(Clock::now() - start).count());
  }
  return median(times);
}

class Rows {
 public:
  void add(const std::string& op, double seconds) {
    rows_[op].first += 1;
    rows_[op].second += seconds;
  }
  double total() const {
    double sum = 0;
    for (const auto& [op, r] : rows_) sum += r.second;
    return sum;
  }
  void print(Device device, int64_t batch, double measured) const {
    fmt::print("\nper-op breakdown ({} batch {}, each op timed alone at its shapes, synchronised):\n", device.name(),
               batch);
    fmt::print("  {:<44} {:>6} {:>12} {:>7}\n", "op", "calls", "ms / step", "share");
    std::vector<std::pair<std::string, std::pair<int, double>>> sorted(rows_.begin(), rows_.end());
    std::sort(sorted.begin(), sorted.end(),
              [](const auto& a, const auto& b) { return a.second.second > b.second.second; });
    for (const auto& [op, r] : sorted)
      fmt::print("  {:<44} {:>6} {:>12.3f} {:>6.1f}%\n", op, r.first, 1e3 * r.second, 100 * r.second / measured);
    const double rest = measured - total();
    fmt::print("  {:<44} {:>6} {:>12.3f} {:>6.1f}%\n", "the rest: launch gaps, host-side autograd", "", 1e3 * rest,
               100 * rest / measured);
    fmt::print("  {:<44} {:>6} {:>12.3f}\n", "measured step (the rows sum to it)", "", 1e3 * measured);
    if (rest < 0)
      fmt::print("  (negative: the ops cost more alone than within the step; on a GPU each pays a launch and a wait "
                 "that a replayed graph does not, and on a busy CPU the timings are noisy)\n");
  }

 private:
  std::map<std::string, std::pair<int, double>> rows_;  // op -> (calls per step, seconds per step)
};

}  // namespace

void print_breakdown(nn::Model& model, int64_t batch, Device device, double measured_step_s,
                     const BatchStorage& storage) {
  const Backend& be = backend(device);
  const int reps = device.is_cpu() ? 2 : 20;
  Rows rows;
  auto random_input = [&](Shape shape, uint32_t id) {
    Tensor host = Tensor::empty(std::move(shape), DType::f32, cpu());
    nn::fill_normal(host, 1.0, 3, id);
    return host.to(device);
  };
  // An activation (or a weight's working copy) in the step's storage.
  auto stored = [&](const Tensor& t) {
    if (t.rank() != 4) return t.clone();
    Tensor out = Tensor::empty(t.shape(), storage.dtype, device, storage.format);
    be.convert(t, out);
    return out;
  };
  uint32_t id = 0;

  // The batch: gathered, normalised and augmented on the device.
  {
    ImageSet set;
    set.images.resize(static_cast<size_t>(batch) * 3072);
    set.labels.resize(static_cast<size_t>(batch));
    for (size_t i = 0; i < set.images.size(); ++i) set.images[i] = static_cast<uint8_t>(kernels::random_u32({9, 0, 0}, i));
    const DeviceImageSet images = upload(set, device);
    const Tensor order = identity_order(batch, device);
    const kernels::AugmentConfig augment = kernels::cifar10_augment_config(true, true, true);
    rows.add("gather_batch (augment)",
             time_it(device, reps, [&] { assemble_batch(images, order, 0, batch, augment, true, 1, 1, storage); }));
  }

  // Each convolution with its BatchNorm and ReLU.
  Tensor h;
  for (const ConvSite& site : conv_sites(model)) {
    const Tensor& master = site.conv->weight().value();
    const Tensor w = stored(master);
    const ops::ConvSpec& spec = site.conv->spec();
    const Tensor x = stored(random_input({batch, w.dim(1), site.in_size, site.in_size}, id++));
    const ConvGeometry g = ConvGeometry::make(x.dim(0), x.dim(1), x.dim(2), x.dim(3), w.dim(0), w.dim(2), w.dim(3),
                                              spec.stride, spec.padding, spec.pad);
    Tensor y = Tensor::empty({g.batch, g.out_channels, g.out_h, g.out_w}, storage.dtype, device, storage.format);
    Tensor gx = Tensor::empty_like(x), gw = Tensor::empty_like(w);
    if (storage.dtype != DType::f32 || storage.format != MemoryFormat::contiguous) {
      Tensor master_grad = Tensor::empty_like(master);
      rows.add("weight working copies and their gradients", time_it(device, reps, [&] {
                 be.convert(master, gw);
                 be.convert(gw, master_grad);
               }));
    }
    rows.add("conv forward", time_it(device, reps, [&] { be.conv2d_forward(x, w, nullptr, y, g); }));
    // The first convolution reads the image, which needs no gradient.
    if (w.dim(1) != 3) rows.add("conv backward data", time_it(device, reps, [&] { be.conv2d_backward_data(w, y, gx, g); }));
    rows.add("conv backward filter", time_it(device, reps, [&] { be.conv2d_backward_filter(x, y, gw, g); }));
    const int64_t c = g.out_channels;
    Tensor gamma = Tensor::full({c}, DType::f32, device, 1.0), beta = Tensor::zeros({c}, DType::f32, device);
    Tensor mean = Tensor::zeros({c}, DType::f32, device), inv_std = Tensor::zeros({c}, DType::f32, device);
    Tensor rm = Tensor::zeros({c}, DType::f32, device), rv = Tensor::full({c}, DType::f32, device, 1.0);
    Tensor z = Tensor::empty_like(y), gz = Tensor::empty_like(y);
    Tensor gg = Tensor::empty({c}, DType::f32, device), gb = Tensor::empty({c}, DType::f32, device);
    const bool fused = site.fused_relu;
    rows.add(fused ? "batchnorm + relu forward (fused)" : "batchnorm forward", time_it(device, reps, [&] {
               be.batchnorm_forward_train(y, gamma, beta, 1e-5, 0.1, fused, z, mean, inv_std, rm, rv);
             }));
    rows.add(fused ? "batchnorm + relu backward (fused)" : "batchnorm backward", time_it(device, reps, [&] {
               be.batchnorm_backward(y, fused ? &z : nullptr, gamma, mean, inv_std, z, gz, gg, gb);
             }));
    if (site.relu && !fused) {
      rows.add("relu forward", time_it(device, reps, [&] { be.relu_forward(z, y); }));
      rows.add("relu backward", time_it(device, reps, [&] { be.relu_backward(y, z, gz); }));
    }
    h = std::move(y);
  }

  // ResNet's residual sums, at each block's output (the backward hands the gradient to both branches).
  if (dynamic_cast<models::ResNet*>(&model)) {
    std::vector<Variable> features;
    nn::ForwardContext ctx;
    ctx.features = &features;
    {
      NoGradGuard no_grad;
      model.eval();
      model.forward(Variable(stored(random_input({batch, 3, 32, 32}, id++))), ctx);
      model.train();
    }
    const std::vector<std::string> names = model.feature_names();
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i].rfind("layer", 0) != 0) continue;  // block outputs only
      const Tensor& a = features[i].value();
      Tensor sum = Tensor::empty_like(a), copy = Tensor::empty_like(a);
      rows.add("residual add", time_it(device, reps, [&] { be.add(a, a, sum); }));
      rows.add("residual add backward (2 copies)", time_it(device, reps, [&] {
                 copy.copy_from(sum);
                 copy.copy_from(sum);
               }));
    }
  }

  // Pooling, the classifier (ResNet), the loss and its bookkeeping.
  Tensor pooled = Tensor::empty({h.dim(0), h.dim(1)}, DType::f32, device);
  Tensor grad_h = Tensor::empty_like(h);
  rows.add("global avg pool forward", time_it(device, reps, [&] { be.global_avg_pool_forward(h, pooled); }));
  rows.add("global avg pool backward", time_it(device, reps, [&] { be.global_avg_pool_backward(pooled, grad_h); }));
  for (Variable* p : model.parameters()) {
    const Tensor& w = p->value();
    if (w.rank() != 2) continue;  // the linear layers (ResNet's classifier)
    const Tensor x = random_input({batch, w.dim(1)}, id++);
    Tensor y = Tensor::empty({batch, w.dim(0)}, DType::f32, device), gx = Tensor::empty(x.shape(), DType::f32, device);
    Tensor gw = Tensor::empty(w.shape(), DType::f32, device), gb = Tensor::empty({w.dim(0)}, DType::f32, device);
    rows.add("linear forward", time_it(device, reps, [&] { be.linear_forward(x, w, nullptr, y); }));
    rows.add("linear backward (x, w, bias)", time_it(device, reps, [&] {
               be.linear_backward_data(w, y, gx);
               be.linear_backward_weight(x, y, gw);
               be.linear_backward_bias(y, gb);
             }));
    pooled = std::move(y);
  }
  std::vector<int32_t> label_values(static_cast<size_t>(batch));
  for (int64_t i = 0; i < batch; ++i) label_values[static_cast<size_t>(i)] = static_cast<int32_t>(i % 10);
  const Tensor labels = Tensor::from_vector<int32_t>({batch}, label_values).to(device);
  Tensor loss = Tensor::empty({1}, DType::f32, device), probs = Tensor::empty(pooled.shape(), DType::f32, device);
  Tensor grad_logits = Tensor::empty(pooled.shape(), DType::f32, device);
  const Tensor one = Tensor::full({1}, DType::f32, device, 1.0);
  rows.add("softmax cross-entropy forward",
           time_it(device, reps, [&] { be.softmax_xent_forward(pooled, labels, loss, probs); }));
  rows.add("softmax cross-entropy backward",
           time_it(device, reps, [&] { be.softmax_xent_backward(probs, labels, one, grad_logits); }));
  {
    Tensor loss_sum = Tensor::zeros({1}, DType::f32, device), correct = Tensor::zeros({1}, DType::f32, device);
    Tensor correct_sum = Tensor::zeros({1}, DType::f32, device), objective = Tensor::zeros({1}, DType::f32, device);
    Tensor counter = Tensor::zeros({1}, DType::i32, device), first_bad = Tensor::full({1}, DType::i32, device, -1);
    rows.add("loss, accuracy and NaN bookkeeping (7 ops)", time_it(device, reps, [&] {
               be.axpy(static_cast<double>(batch), loss, loss_sum);
               be.count_correct(pooled, labels, correct);
               be.axpy(1.0, correct, correct_sum);
               objective.copy_from(loss);
               be.axpy(1e-4, loss, objective);
               be.track_nonfinite(objective, counter, first_bad);
               be.increment(counter, 1);
             }));
  }

  // The optimiser: one pass for the gradient norm and the L2 penalty, one for the update.
  {
    std::vector<Tensor*> params, momenta;
    std::vector<const Tensor*> const_params, grads;
    std::vector<Tensor> grad_storage, momentum_storage, param_copies;
    for (Variable* p : model.parameters()) {
      param_copies.push_back(p->value().clone());
      grad_storage.push_back(random_input(p->shape(), id++));
      momentum_storage.push_back(Tensor::zeros(p->shape(), DType::f32, device));
    }
    for (size_t i = 0; i < param_copies.size(); ++i) {
      params.push_back(&param_copies[i]);
      const_params.push_back(&param_copies[i]);
      grads.push_back(&grad_storage[i]);
      momenta.push_back(&momentum_storage[i]);
    }
    SgdConfig config{0.9, true, 2.0, 0.0};
    config.l2 = 1e-4;
    Tensor grad_sq = Tensor::zeros({1}, DType::f32, device), param_sq = Tensor::zeros({1}, DType::f32, device);
    const Tensor lr = Tensor::full({1}, DType::f32, device, 0.0);
    rows.add("optimiser sums (gradient norm, L2 penalty)",
             time_it(device, reps, [&] { be.sgd_sums(const_params, grads, config.l2, grad_sq, param_sq); }));
    rows.add("SGD update (clip, L2 gradient, Nesterov)",
             time_it(device, reps, [&] { be.sgd_update(params, grads, momenta, grad_sq, lr, config); }));
  }
  rows.print(device, batch, measured_step_s);
}

}  // namespace convlab::bench
