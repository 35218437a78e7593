#include "framework/train/train_step.h"

#include "framework/backend/backend.h"
#include "framework/ops/ops.h"

namespace convlab {

TrainStep::TrainStep(nn::Model& model, optim::Sgd& sgd, StepOptions options, Device device, int64_t updates_done)
    : model_(model),
      sgd_(sgd),
      options_(options),
      device_(device),
      params_(model.parameters()),
      updates_(updates_done),
      lr_(Tensor::zeros({1}, DType::f32, device)),
      loss_sum_(Tensor::zeros({1}, DType::f32, device)),
      correct_sum_(Tensor::zeros({1}, DType::f32, device)),
      correct_(Tensor::zeros({1}, DType::f32, device)),
      objective_(Tensor::zeros({1}, DType::f32, device)),
      first_bad_(Tensor::full({1}, DType::i32, device, -1)),
      counter_(Tensor::full({1}, DType::i32, device, static_cast<double>(updates_done))) {
  CONVLAB_CHECK(!options.use_graph || device.is_cuda(), "CUDA graphs need --device cuda");
  if (options.use_graph) {
    input_images_ = Tensor::empty({options.batch_size, 3, 32, 32}, options.input.dtype, device, options.input.format);
    input_labels_ = Tensor::empty({options.batch_size}, DType::i32, device);
  }
}

void TrainStep::set_lr(double lr) { backend(device_).fill(lr_, lr); }

void TrainStep::reset_sums() {
  backend(device_).fill(loss_sum_, 0);
  backend(device_).fill(correct_sum_, 0);
}

double TrainStep::mean_loss(int64_t examples) const { return loss_sum_.to(cpu()).item() / examples; }
double TrainStep::accuracy(int64_t examples) const { return correct_sum_.to(cpu()).item() / examples; }
int64_t TrainStep::first_bad_step() const { return static_cast<int64_t>(first_bad_.to(cpu()).item()); }

// Everything here is queued on the device with fixed addresses and no host reads, so it can
// be recorded into a graph as it is.
void TrainStep::update(Variable input, const Tensor& labels, int64_t count) {
  const Backend& be = backend(device_);
  nn::ForwardContext ctx;
  ctx.seed = options_.seed;
  ctx.step = static_cast<uint32_t>(updates_);
  ctx.step_counter = &counter_;
  const Variable logits = model_.forward(input, ctx);
  const Variable cross_entropy = ops::softmax_cross_entropy(logits, labels);
  Variable loss = options_.autograd_l2 > 0
                      ? ops::add(cross_entropy, optim::l2_penalty(params_, options_.autograd_l2))
                      : cross_entropy;
  be.axpy(static_cast<double>(count), cross_entropy.value(), loss_sum_);
  be.count_correct(logits.value(), labels, correct_);
  be.axpy(1.0, correct_, correct_sum_);
  loss.backward();
  sgd_.step(lr_);
  // The objective: the loss plus the penalty that the optimiser's sums pass measured (on the
  // parameters before this update, as the forward saw them).
  objective_.copy_from(loss.value());
  if (sgd_.config().l2 > 0) be.axpy(sgd_.config().l2, sgd_.param_sum_squares(), objective_);
  be.track_nonfinite(objective_, counter_, first_bad_);
  be.increment(counter_, 1);
}

void TrainStep::record_graph() {
  model_.zero_grad();  // the recording starts from no gradients: backward writes them afresh
  graph_ = capture_step(device_, [&] {
    Variable input(std::move(input_images_));
    update(input, input_labels_, options_.batch_size);
    input_images_ = std::move(input.mutable_value());
  });
}

void TrainStep::run(Batch batch) {
  const int64_t count = batch.images.dim(0);
  if (!options_.use_graph || count != options_.batch_size || !warmed_up_) {
    model_.zero_grad();
    update(Variable(std::move(batch.images)), batch.labels, count);
    warmed_up_ |= options_.use_graph && count == options_.batch_size;
  } else {
    input_images_.copy_from(batch.images);
    input_labels_.copy_from(batch.labels);
    if (!graph_) record_graph();
    graph_->replay();
  }
  ++updates_;
}

}  // namespace convlab
