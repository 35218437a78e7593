// The pieces every comparison of layers is built from, shared by compare_layers (one pass over
// feature sources) and StreamingComparison (batches handed over one at a time): each
// measure's accumulator behind one interface, on the CPU or the GPU, the per-layer scaling of
// features, the batch-size checks and the matrices at the end. Internal to framework/analysis.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "framework/analysis/compare.h"
#include "framework/core/tensor.h"
#include "framework/linalg/batch_grams.h"
#include "framework/stats/batch_terms.h"

namespace convlab::linalg {
class DeviceBatchGrams;  // cuda/device_grams.h
}

namespace convlab::analysis_detail {

// One power of two per layer of a source, 2^-e for the largest magnitude m 2^e (0.5 <= m < 1)
// of the layer's first batch that is not all zero (compare.h says why), applied to every
// batch in place. Layers on a GPU get the same treatment there.
//
// A power of two changes no measure's value while the features' products stay far inside
// float64's range (and LAPACK's unscaled range), which they do for every exponent within
// +-kLargestUnscaledExponent: such layers are left as they are, which saves a pass over them.
// Beyond it a layer is scaled in place, or, if it is borrowed (memory that belongs to the
// caller, Tensor::borrow), replaced by a scaled copy: borrowed memory is never changed.
class LayerScales {
 public:
  static constexpr int kLargestUnscaledExponent = 64;
  void apply(std::vector<Tensor>& layers);

 private:
  double largest_magnitude(Tensor& t);

  std::vector<int> exponents_;  // per layer
  std::vector<bool> chosen_;    // per layer: its exponent is fixed
  Tensor scratch_;              // one u32 on the GPU, for the largest magnitude
};

// One measure of one comparison (CKA: all its kernels), fed the features of one batch at a
// time (b empty when A is compared with itself). Output o is one matrix (CKA: kernel o).
class MeasureRun {
 public:
  virtual ~MeasureRun() = default;
  virtual void add_batch(const std::vector<Tensor>& a, const std::vector<Tensor>& b) = 0;
  virtual size_t outputs() const { return 1; }
  virtual const stats::BatchTerms& terms(size_t output) const = 0;
  // From mean terms to the matrix (the bootstrap's statistic); quiet: no warnings.
  virtual std::vector<double> value(const std::vector<double>& mean_terms, bool warn) const = 0;
  virtual std::vector<std::string> forms() const { return {}; }
  // SVCCA and PWCCA: the directions each row kept (SimilarityMatrix::kept_dims).
  virtual std::vector<int64_t> kept_dims() const { return {}; }
  // With CompareSettings::permutations: the matrix of output o under each permutation.
  virtual std::vector<std::vector<double>> null_values(size_t output) const { return {}; }
  // SimilarityMatrix::precision.
  virtual std::string precision() const = 0;
  virtual void release_workspace() {}
};

struct LayerNames {
  std::vector<std::string> a, b;
  bool self = true;
  int64_t layers_b() const { return self ? 0 : static_cast<int64_t>(b.size()); }
};

// The Grams of network B's layers for the float64 measures and CKA's permutation null, shared
// by every comparison against the same B in one pass (compare_against): B's features are
// extracted once per batch for all of them, and so are their Grams.
struct ReferenceGrams {
  std::shared_ptr<linalg::BatchGrams> host;
  std::shared_ptr<linalg::DeviceBatchGrams> device;  // null without a GPU
};
ReferenceGrams make_reference_grams(bool on_gpu, Device device);

// One run per measure of `s`, in its order, where the features are: on the GPU when they all
// lie on one CUDA device, on the CPU otherwise. The float64 measures share each batch's Grams
// (computed on the GPU for features there; B's in `reference` when given), the nulls of RSA and
// Procrustes one host copy of a GPU batch's features.
std::vector<std::unique_ptr<MeasureRun>> make_measure_runs(bool on_gpu, Device device, const LayerNames& names,
                                                          const CompareSettings& s,
                                                          const ReferenceGrams* reference = nullptr);

// The matrices of finished runs (runs[r] computed settings.measures[r]), labelled. `warn`:
// print the warning about the settings (too few permutations for any cell to pass Holm).
struct MatrixLabels {
  LayerNames names;
  std::string row_source, col_source;
  int64_t examples = 0, batches = 0;
  double seconds = 0;
};
std::vector<SimilarityMatrix> measure_matrices(const std::vector<std::unique_ptr<MeasureRun>>& runs,
                                               const CompareSettings& s, const MatrixLabels& labels,
                                               bool warn = true);

// The effective batch min(batch size, n) must reach every measure's minimum (else an error
// naming --batch-size or --examples); below an advised size, one warning per measure.
void check_batch_size(int64_t n, const CompareSettings& s);
void warn_small_batches(int64_t n, const CompareSettings& s);
// Settings that make no analysis: no measure, no kernel, a batch size below 1, one replicate.
void check_compare_settings(const CompareSettings& s);
// The smallest batch every measure of `s` accepts.
int64_t smallest_batch(const CompareSettings& s);

// Before the measures allocate for a batch of features on a GPU (b empty: A against itself):
// throws, naming --batch-size and a batch that fits, when the estimate of what they need
// (device_memory.h) exceeds what the device has free.
void check_gpu_memory(const std::vector<Tensor>& a, const std::vector<Tensor>& b, const CompareSettings& s);

}  // namespace convlab::analysis_detail
