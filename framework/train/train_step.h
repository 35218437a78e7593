// One update of the reference protocol on any device: forward, mean softmax cross-entropy,
// backward, clipped SGD (which adds the L2 penalty's gradient itself: SgdConfig::l2); the
// loss and correct counts summed on the device, a NaN watch on the whole objective
// (cross-entropy + penalty), and the step counter (which keys dropout) advanced on the
// device, so nothing waits for the host. With use_graph on a CUDA device, full-size batches replay a
// CUDA graph recorded at the second full batch (the first runs eagerly: it chooses the
// convolution algorithms and sizes the workspace); other batches run eagerly.
#pragma once

#include <memory>

#include "framework/backend/step_graph.h"
#include "framework/nn/model.h"
#include "framework/optim/sgd.h"
#include "framework/train/batches.h"
#include "framework/train/precision.h"

namespace convlab {

struct StepOptions {
  // An L2 penalty recorded through autograd (optim::l2_penalty) instead of inside the
  // optimiser: the slower reference form, kept for tests. 0 = none (the default; training
  // sets SgdConfig::l2).
  double autograd_l2 = 0;
  uint64_t seed = 0;      // keys dropout
  int64_t batch_size = 0; // the full batch size (graph replays need a fixed shape)
  bool use_graph = false;
  BatchStorage input;     // the storage batches come in (graph replays read them from a fixed buffer)
};

class TrainStep {
 public:
  TrainStep(nn::Model& model, optim::Sgd& sgd, StepOptions options, Device device, int64_t updates_done);

  void set_lr(double lr);  // queued on the device; holds until changed
  void run(Batch batch);   // one update

  void reset_sums();
  // Means since reset_sums() (these read from the device).
  double mean_loss(int64_t examples) const;
  double accuracy(int64_t examples) const;
  // The update where the loss first was NaN or infinite, or -1.
  int64_t first_bad_step() const;
  int64_t updates() const { return updates_; }
  bool graph_active() const { return graph_ != nullptr; }
  // The recorded step's operations (0 before a recording).
  size_t graph_nodes() const { return graph_ ? graph_->node_count() : 0; }

 private:
  void update(Variable input, const Tensor& labels, int64_t count);
  void record_graph();

  nn::Model& model_;
  optim::Sgd& sgd_;
  StepOptions options_;
  Device device_;
  std::vector<Variable*> params_;
  int64_t updates_;
  bool warmed_up_ = false;
  Tensor lr_, loss_sum_, correct_sum_, correct_, objective_, first_bad_, counter_;  // (1) each, on the device
  Tensor input_images_, input_labels_;  // (B, 3, 32, 32), (B): where graph replays read the batch
  std::unique_ptr<StepGraph> graph_;
};

}  // namespace convlab
