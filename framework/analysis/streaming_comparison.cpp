#include "framework/analysis/streaming_comparison.h"

#include <fmt/format.h>

#include "framework/analysis/measure_run.h"
#include "framework/cka/features.h"

namespace convlab {

using namespace analysis_detail;

StreamingComparison::StreamingComparison(std::vector<std::string> names_a, std::vector<std::string> names_b,
                                         const CompareSettings& settings)
    : names_a_(std::move(names_a)),
      names_b_(std::move(names_b)),
      settings_(settings),
      scales_a_(std::make_unique<LayerScales>()),
      scales_b_(std::make_unique<LayerScales>()) {
  CONVLAB_CHECK(!names_a_.empty(), "a comparison needs at least one layer of network A");
  settings_.batch_size = 1;  // the caller's batches; batch_size only labels the matrices
  settings_.examples = 0;
  check_compare_settings(settings_);
}

StreamingComparison::~StreamingComparison() = default;
StreamingComparison::StreamingComparison(StreamingComparison&&) noexcept = default;
StreamingComparison& StreamingComparison::operator=(StreamingComparison&&) noexcept = default;

namespace {

// Every layer (k, p) with the same k, f32 or f64, on `device`.
void check_layers(const std::vector<Tensor>& layers, const std::vector<std::string>& names, const char* network,
                  int64_t k, Device device) {
  CONVLAB_CHECK(layers.size() == names.size(), "expected the features of {} layers of network {}, got {}",
                names.size(), network, layers.size());
  for (size_t l = 0; l < layers.size(); ++l) {
    const Tensor& t = layers[l];
    const std::string label = cka::layer_label(names[l]);
    CONVLAB_CHECK(t.rank() == 2, "{} of network {}: features must be (examples, features), got {}", label, network,
                  t.describe());
    CONVLAB_CHECK(t.dtype() == DType::f32 || t.dtype() == DType::f64,
                  "{} of network {}: features must be float32 or float64, got {}", label, network, t.describe());
    CONVLAB_CHECK(t.dim(0) == k, "{} of network {} has {} examples in this batch, but the first layer of network A "
                  "has {}: every layer holds the same examples", label, network, t.dim(0), k);
    CONVLAB_CHECK(t.dim(1) >= 1, "{} of network {} has no features", label, network);
    CONVLAB_CHECK(t.device() == device, "{} of network {} lies on {}, the other features on {}: put them on one device",
                  label, network, t.device().name(), device.name());
  }
}

}  // namespace

void StreamingComparison::add(std::vector<Tensor>& a, std::vector<Tensor>& b) {
  const auto start = std::chrono::steady_clock::now();
  CONVLAB_CHECK(!a.empty(), "a batch needs the features of network A");
  CONVLAB_CHECK(self() == b.empty(),
                "{}", self() ? "this comparison is of network A against itself: pass no features of network B"
                             : "this comparison is of two networks: pass the features of network B too");
  const Device device = a.front().device();
  const int64_t k = a.front().rank() >= 1 ? a.front().dim(0) : 0;
  if (batches_ > 0)
    CONVLAB_CHECK(device == device_, "this batch lies on {}, the earlier ones on {}: a comparison runs on one device",
                  device.name(), device_.name());
  check_layers(a, names_a_, "A", k, device);
  if (!self()) check_layers(b, names_b_, "B", k, device);
  const int64_t minimum = smallest_batch(settings_);
  CONVLAB_CHECK(k >= minimum,
                "batch {} has {} examples, but the measures asked for need at least {} per batch: use larger "
                "batches, or merge a short last batch into the one before",
                batches_ + 1, k, minimum);
  if (batches_ == 0) {
    CompareSettings first = settings_;
    first.batch_size = k;
    warn_small_batches(k, first);
    device_ = device;
    const LayerNames names{names_a_, names_b_, self()};
    runs_ = make_measure_runs(device.is_cuda(), device, names, settings_);
  }
  if (device.is_cuda() && k > largest_checked_) {  // a larger batch than any before needs more memory
    check_gpu_memory(a, b, settings_);
    largest_checked_ = k;
  }
  scales_a_->apply(a);
  if (!self()) scales_b_->apply(b);
  try {
    for (auto& run : runs_) run->add_batch(a, b);
  } catch (const Error& e) {
    throw Error(fmt::format("{} [batch {}: examples {} to {}]", e.what(), batches_ + 1, examples_,
                            examples_ + k - 1));
  }
  ++batches_;
  examples_ += k;
  seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::vector<SimilarityMatrix> StreamingComparison::result() const {
  CONVLAB_CHECK(batches_ > 0, "no batch yet: add() the features of at least one batch first");
  CONVLAB_CHECK(settings_.bootstrap == 0 || batches_ >= 2,
                "the bootstrap resamples batches and needs at least 2, but {} was added", batches_);
  CompareSettings s = settings_;
  s.batch_size = examples_ / batches_;  // the mean batch, for the labels
  const LayerNames names{names_a_, names_b_, self()};
  return measure_matrices(runs_, s, {names, "network A", self() ? "network A" : "network B", examples_, batches_,
                                     seconds_});
}

}  // namespace convlab
