// A comparison of layers fed one batch at a time by its caller: the accumulators of
// compare_layers (analysis/compare.h), for features that do not come from a FeatureSource,
// such as a Python loop over a DataLoader whose forward hooks hand over each batch. Memory
// holds one batch's work and each measure's per-batch terms ((R, R) doubles per batch, R the
// layers of both networks), never the features of earlier batches.
//
// Each add() is one batch of the minibatch estimators: the same k examples at every layer
// (of A, and of B unless A is compared with itself). Batches may differ in size; each counts
// in proportion to its examples, as a short last batch does in compare_layers. The features
// are used where they lie: all on one CUDA device go to the CUDA measures, host features to
// the CPU ones; the first batch decides, and later batches must lie on the same device.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "framework/analysis/compare.h"
#include "framework/core/tensor.h"

namespace convlab {

namespace analysis_detail {
class LayerScales;
class MeasureRun;
}  // namespace analysis_detail

class StreamingComparison {
 public:
  // `names_b` empty: A against itself. settings.batch_size is unused (the batches are the
  // caller's); settings.examples and last_batch too.
  StreamingComparison(std::vector<std::string> names_a, std::vector<std::string> names_b,
                      const CompareSettings& settings);
  ~StreamingComparison();
  StreamingComparison(StreamingComparison&&) noexcept;
  StreamingComparison& operator=(StreamingComparison&&) noexcept;

  // One batch: a[l] is layer l of A, (k, p_l) f32 or f64, on the CPU or one CUDA device; b
  // likewise for B (empty when A is compared with itself). Owned tensors may be scaled in
  // place (a power of two per layer, compare.h); borrowed ones (Tensor::borrow) are never
  // changed. Errors name the batch and its examples.
  void add(std::vector<Tensor>& a, std::vector<Tensor>& b);

  // The matrices so far, in the order of settings.measures (CKA: one per kernel). Needs one
  // batch; a bootstrap needs two.
  std::vector<SimilarityMatrix> result() const;

  int64_t batches() const { return batches_; }
  int64_t examples() const { return examples_; }
  bool self() const { return names_b_.empty(); }
  // Where the measures run: the device of the first batch (cpu() before it).
  Device device() const { return device_; }

 private:
  std::vector<std::string> names_a_, names_b_;
  CompareSettings settings_;
  std::vector<std::unique_ptr<analysis_detail::MeasureRun>> runs_;  // made at the first batch
  std::unique_ptr<analysis_detail::LayerScales> scales_a_, scales_b_;
  Device device_ = cpu();
  int64_t batches_ = 0, examples_ = 0;
  int64_t largest_checked_ = 0;  // the largest GPU batch whose memory was checked
  double seconds_ = 0;
};

}  // namespace convlab
