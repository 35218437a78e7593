#include "framework/analysis/compare.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>

#include "framework/cka/accumulator.h"
#include "framework/cka/centring.h"
#include "framework/cka/parallel.h"
#include "framework/procrustes/procrustes.h"
#include "framework/rsa/rsa.h"

#if CONVLAB_WITH_CUDA
#include "framework/backend/cuda/cuda_context.h"
#include "framework/cka/cuda/cuda_accumulator.h"
#include "framework/cka/cuda/range_scale.h"
#include "framework/procrustes/cuda/cuda_procrustes.h"
#include "framework/rsa/cuda/cuda_rsa.h"
#endif

namespace convlab {

const char* measure_name(Measure measure) {
  switch (measure) {
    case Measure::rsa: return "rsa";
    case Measure::procrustes: return "procrustes";
    default: return "cka";
  }
}

const char* last_batch_name(LastBatch policy) { return policy == LastBatch::drop ? "drop" : "weight"; }

// The sizes come from BatchSizeMeasurement (tests/test_analysis.cpp): two independent
// Gaussian layers (unrelated) and x against max(0, x + noise) (related), 16, 64, 256, 1024 and
// 4096 features each, 10,000 examples in batches of 2 to 1000. `advised` is the smallest
// batch from which all of those values lie within 0.05 (Procrustes: 0.1) of their values in
// batches of 1000 (compare.h).
// - biased CKA, linear and RBF alike: unrelated layers of p features read about p / (p + k),
//   still 0.2 to 0.8 at k = 1000 for 256 to 4096 features; 1024 features get within 0.05 last,
//   between 800 (linear 0.56, RBF 0.68) and 900 (0.53, 0.66; 0.51 and 0.63 at 1000). At 2
//   every centred Gram is the same rank-one matrix up to scale: RBF CKA is 1 for every pair,
//   linear CKA about p / (p + 2).
// - Procrustes: unrelated layers read about k / (2p) while k < p (0.5 at k = p) and rise
//   towards 2 only as k passes p; 256 and 1024 features get within 0.1 last, between 700
//   (1.01 and 0.34) and 800 (1.07 and 0.39; 1.16 and 0.49 at 1000). At 2 every pair reads 0.
// - RSA: unrelated layers read 0 at every size; related ones 0.27 at 3 examples, 0.30 to 0.31
//   at 4 and 0.35 at 1000 (means over 8 draws).
// - debiased CKA: within 0.02 of its values at 1000 from its minimum of 4 on, unrelated and
//   related, with a standard deviation over draws of at most 0.015: no warning.
BatchLimits batch_limits(Measure measure, cka::Estimator estimator) {
  switch (measure) {
    case Measure::rsa: return {std::max<int64_t>(3, rsa::kMinExamples), 4};
    case Measure::procrustes: return {std::max<int64_t>(3, procrustes::kMinExamples), 800};
    default:
      if (estimator == cka::Estimator::debiased) return {cka::min_examples(estimator), cka::min_examples(estimator)};
      return {std::max<int64_t>(3, cka::min_examples(estimator)), 900};
  }
}

namespace {

// What a measure is called in messages, why its minimum batch is what it is, and what a batch
// below its advised size does to it.
struct LimitText {
  std::string name;
  std::string below_minimum;
  std::string below_advised;
};

LimitText limit_text(Measure measure, cka::Estimator estimator) {
  switch (measure) {
    case Measure::rsa:
      return {"RSA", "at 2, an RDM holds one distance, and a rank correlation needs 3",
              "a rank correlation of 3 distances per batch reads related layers low (Gaussian layers: 0.27 where "
              "batches of 1000 read 0.35)"};
    case Measure::procrustes:
      return {"Procrustes", "at 2, unrelated layers measure 0: two centred examples are one direction, always aligned",
              "unrelated layers of p features read about k / (2p) while k < p, and the distance keeps rising with k "
              "(Gaussian layers of 256 to 1024 features: more than 0.1 below their distance in batches of 1000); "
              "compare distances only at equal batch sizes"};
    default:
      if (estimator == cka::Estimator::debiased)
        return {"debiased CKA", "its HSIC estimator divides by n(n - 3), which is 0 at 3", ""};
      return {"biased CKA",
              "at 2, every layer's centred Gram is the same rank-one matrix up to scale: RBF CKA is 1 for every pair "
              "of layers, linear CKA close to 1",
              "unrelated layers of p features read about p / (p + k), not 0 (Gaussian layers of 1024 features: more "
              "than 0.05 above their CKA in batches of 1000); --estimator debiased has no such bias"};
  }
}

// The measures of an analysis, CKA's under its estimator.
std::vector<std::pair<BatchLimits, LimitText>> limits_of(const CompareSettings& s) {
  std::vector<std::pair<BatchLimits, LimitText>> out;
  for (Measure m : s.measures) out.emplace_back(batch_limits(m, s.estimator), limit_text(m, s.estimator));
  return out;
}

// The effective batch (the batch size, or all n examples when there are fewer) must reach
// every measure's minimum; below an advised size, one warning per measure.
void check_batch_size(int64_t n, const CompareSettings& s) {
  const int64_t effective = std::min(s.batch_size, n);
  for (const auto& [limits, text] : limits_of(s)) {
    if (effective >= limits.minimum) continue;
    if (s.batch_size < limits.minimum)
      CONVLAB_FAIL("{} needs batches of at least {} examples ({}): raise --batch-size to {} or more", text.name,
                   limits.minimum, text.below_minimum, limits.minimum);
    CONVLAB_FAIL("{} needs batches of at least {} examples ({}), but only {} examples are used, which make one batch "
                 "of {} whatever --batch-size is: use {} or more examples (--examples, or more rows of features)",
                 text.name, limits.minimum, text.below_minimum, n, n, limits.minimum);
  }
}

void warn_small_batches(int64_t n, const CompareSettings& s) {
  const int64_t effective = std::min(s.batch_size, n);
  for (const auto& [limits, text] : limits_of(s)) {
    if (effective >= limits.advised) continue;
    std::string remedy = fmt::format("raise --batch-size to {} or more", limits.advised);
    if (s.batch_size >= limits.advised)
      remedy = fmt::format("use {} or more examples (--examples)", limits.advised);
    else if (n < limits.advised)
      remedy = fmt::format("raise --batch-size and the examples (--examples) to {} or more", limits.advised);
    fmt::print(stderr, "convlab: warning: {} in batches of {} examples is far from its large-batch value: {}; {}\n",
               text.name, effective, text.below_advised, remedy);
  }
}

// One power of two per layer of a source, 2^-e for the largest magnitude m 2^e (0.5 <= m < 1)
// of the layer's first batch that is not all zero (compare.h says why), applied to every
// batch in place. Layers on a GPU get the same treatment there.
class LayerScales {
 public:
  void apply(std::vector<Tensor>& layers) {
    if (exponents_.empty()) {
      exponents_.assign(layers.size(), 0);
      chosen_.assign(layers.size(), false);
    }
    CONVLAB_CHECK(layers.size() == exponents_.size(), "a feature source gave {} layers, then {}", exponents_.size(),
                  layers.size());
    for (size_t l = 0; l < layers.size(); ++l) {
      Tensor& t = layers[l];
      if (!chosen_[l]) {
        const double largest = largest_magnitude(t);
        if (largest > 0.0 && std::isfinite(largest)) {  // NaN and infinity are the measures' to report
          int exponent = 0;
          std::frexp(largest, &exponent);
          exponents_[l] = -exponent;
          chosen_[l] = true;
        }
      }
      if (exponents_[l] != 0) scale(t, exponents_[l]);
    }
  }

 private:
  template <class T>
  static double host_largest(const T* x, int64_t count) {
    double largest = 0.0;
#pragma omp parallel for reduction(max : largest) schedule(static) if (count >= cka::kParallelMin)
    for (int64_t i = 0; i < count; ++i) {
      const double a = std::abs(static_cast<double>(x[i]));
      if (!(a <= largest)) largest = std::isnan(a) ? INFINITY : a;  // NaN: no scale, the measures report it
    }
    return largest;
  }

  double largest_magnitude(Tensor& t) {
    if (t.device().is_cpu()) {
      if (t.dtype() == DType::f64) return host_largest(t.host<double>(), t.numel());
      if (t.dtype() == DType::f32) return host_largest(t.host<float>(), t.numel());
      return 0.0;  // no other type reaches the measures
    }
#if CONVLAB_WITH_CUDA
    if (t.dtype() != DType::f32) return 0.0;  // the device measures take f32 and say so
    if (!scratch_.defined() || scratch_.device() != t.device()) scratch_ = Tensor::empty({1}, DType::i32, t.device());
    uint32_t* scratch = reinterpret_cast<uint32_t*>(scratch_.data<int32_t>());
    return cka_cuda::largest_magnitude(t.data<float>(), t.numel(), scratch, cuda_context(t.device()).stream());
#else
    return 0.0;
#endif
  }

  static void scale(Tensor& t, int exponent) {
    const int64_t count = t.numel();
    if (t.device().is_cpu() && t.dtype() == DType::f64) {
      double* x = t.host<double>();
      if (exponent > 1000) {  // subnormal features: 2^exponent itself is beyond f64
#pragma omp parallel for schedule(static) if (count >= cka::kParallelMin)
        for (int64_t i = 0; i < count; ++i) x[i] = std::ldexp(x[i], exponent);
        return;
      }
      const double factor = std::ldexp(1.0, exponent);
#pragma omp parallel for schedule(static) if (count >= cka::kParallelMin)
      for (int64_t i = 0; i < count; ++i) x[i] *= factor;
    } else if (t.device().is_cpu() && t.dtype() == DType::f32) {
      float* x = t.host<float>();
      const double factor = std::ldexp(1.0, exponent);  // may lie outside f32's range
#pragma omp parallel for schedule(static) if (count >= cka::kParallelMin)
      for (int64_t i = 0; i < count; ++i) x[i] = static_cast<float>(static_cast<double>(x[i]) * factor);
    } else {
#if CONVLAB_WITH_CUDA
      if (t.dtype() == DType::f32)
        cka_cuda::scale_by_power_of_two(t.data<float>(), count, exponent, cuda_context(t.device()).stream());
#endif
    }
  }

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
  virtual void release_workspace() {}
};

std::vector<cka::FeatureView> views(const std::vector<Tensor>& layers, const std::vector<std::string>& names) {
  std::vector<cka::FeatureView> out;
  for (size_t i = 0; i < layers.size(); ++i) {
    const Tensor& t = layers[i];
    if (t.dtype() == DType::f64)
      out.emplace_back(t.host<double>(), t.dim(0), t.dim(1), names[i]);
    else
      out.emplace_back(t.host<float>(), t.dim(0), t.dim(1), names[i]);
  }
  return out;
}

// The CPU accumulators all take add_batch(a) or add_batch(a, b) on views.
template <class Accumulator>
void feed(Accumulator& acc, bool self, const std::vector<Tensor>& a, const std::vector<Tensor>& b,
          const std::vector<std::string>& names_a, const std::vector<std::string>& names_b) {
  if (self)
    acc.add_batch(views(a, names_a));
  else
    acc.add_batch(views(a, names_a), views(b, names_b));
}

struct Names {
  std::vector<std::string> a, b;
  bool self = true;
  int64_t layers_b() const { return self ? 0 : static_cast<int64_t>(b.size()); }
};

class HostCka final : public MeasureRun {
 public:
  HostCka(const Names& names, const CompareSettings& s)
      : names_(names), acc_(static_cast<int64_t>(names.a.size()), names.layers_b(), s.kernels, s.estimator) {}
  void add_batch(const std::vector<Tensor>& a, const std::vector<Tensor>& b) override {
    feed(acc_, names_.self, a, b, names_.a, names_.b);
  }
  size_t outputs() const override { return acc_.kernels().size(); }
  const stats::BatchTerms& terms(size_t o) const override { return acc_.terms(o); }
  std::vector<double> value(const std::vector<double>& mean, bool warn) const override {
    return acc_.pairs().cka(mean, warn);
  }
  void release_workspace() override { acc_.release_workspace(); }

 private:
  Names names_;
  cka::CkaAccumulator acc_;
};

class HostRsa final : public MeasureRun {
 public:
  explicit HostRsa(const Names& names) : names_(names), acc_(static_cast<int64_t>(names.a.size()), names.layers_b()) {}
  void add_batch(const std::vector<Tensor>& a, const std::vector<Tensor>& b) override {
    feed(acc_, names_.self, a, b, names_.a, names_.b);
  }
  const stats::BatchTerms& terms(size_t) const override { return acc_.terms(); }
  std::vector<double> value(const std::vector<double>& mean, bool) const override { return mean; }
  void release_workspace() override { acc_.release_workspace(); }

 private:
  Names names_;
  rsa::RsaAccumulator acc_;
};

std::vector<std::string> form_names(const std::vector<procrustes::Form>& forms) {
  std::vector<std::string> out;
  for (procrustes::Form f : forms) out.push_back(procrustes::form_name(f));
  return out;
}

class HostProcrustes final : public MeasureRun {
 public:
  explicit HostProcrustes(const Names& names)
      : names_(names), acc_(static_cast<int64_t>(names.a.size()), names.layers_b()) {}
  void add_batch(const std::vector<Tensor>& a, const std::vector<Tensor>& b) override {
    feed(acc_, names_.self, a, b, names_.a, names_.b);
  }
  const stats::BatchTerms& terms(size_t) const override { return acc_.terms(); }
  std::vector<double> value(const std::vector<double>& mean, bool) const override { return mean; }
  std::vector<std::string> forms() const override { return form_names(acc_.forms()); }

 private:
  Names names_;
  procrustes::ProcrustesAccumulator acc_;
};

#if CONVLAB_WITH_CUDA
std::vector<cka::DeviceFeatureView> device_views(const std::vector<Tensor>& layers,
                                                 const std::vector<std::string>& names) {
  std::vector<cka::DeviceFeatureView> out;
  for (size_t i = 0; i < layers.size(); ++i) out.emplace_back(layers[i], names[i]);
  return out;
}

template <class Accumulator>
void feed_device(Accumulator& acc, bool self, const std::vector<Tensor>& a, const std::vector<Tensor>& b,
                 const Names& names) {
  if (self)
    acc.add_batch(device_views(a, names.a));
  else
    acc.add_batch(device_views(a, names.a), device_views(b, names.b));
}

cka::GramPrecision precision_of(CudaContext& context) {
  return context.allow_tf32() ? cka::GramPrecision::tf32 : cka::GramPrecision::fp32;
}

// Features that stay on the GPU; the Gram products use TF32 when the device allows it for
// convolutions (CudaContext::allow_tf32).
class GpuCka final : public MeasureRun {
 public:
  GpuCka(Device device, const Names& names, const CompareSettings& s)
      : names_(names),
        acc_(cuda_context(device), static_cast<int64_t>(names.a.size()), names.layers_b(), s.kernels, s.estimator,
             precision_of(cuda_context(device))) {}
  void add_batch(const std::vector<Tensor>& a, const std::vector<Tensor>& b) override {
    feed_device(acc_, names_.self, a, b, names_);
  }
  size_t outputs() const override { return acc_.kernels().size(); }
  const stats::BatchTerms& terms(size_t o) const override { return acc_.terms(o); }
  std::vector<double> value(const std::vector<double>& mean, bool warn) const override {
    return acc_.pairs().cka(mean, warn);
  }
  void release_workspace() override { acc_.release_workspace(); }

 private:
  Names names_;
  cka::CudaCkaAccumulator acc_;
};

class GpuRsa final : public MeasureRun {
 public:
  GpuRsa(Device device, const Names& names)
      : names_(names),
        acc_(cuda_context(device), static_cast<int64_t>(names.a.size()), names.layers_b(),
             precision_of(cuda_context(device))) {}
  void add_batch(const std::vector<Tensor>& a, const std::vector<Tensor>& b) override {
    feed_device(acc_, names_.self, a, b, names_);
  }
  const stats::BatchTerms& terms(size_t) const override { return acc_.terms(); }
  std::vector<double> value(const std::vector<double>& mean, bool) const override { return mean; }
  void release_workspace() override { acc_.release_workspace(); }

 private:
  Names names_;
  rsa::CudaRsaAccumulator acc_;
};

class GpuProcrustes final : public MeasureRun {
 public:
  GpuProcrustes(Device device, const Names& names)
      : names_(names),
        acc_(cuda_context(device), static_cast<int64_t>(names.a.size()), names.layers_b(),
             precision_of(cuda_context(device))) {}
  void add_batch(const std::vector<Tensor>& a, const std::vector<Tensor>& b) override {
    feed_device(acc_, names_.self, a, b, names_);
  }
  const stats::BatchTerms& terms(size_t) const override { return acc_.terms(); }
  std::vector<double> value(const std::vector<double>& mean, bool) const override { return mean; }
  std::vector<std::string> forms() const override { return form_names(acc_.forms()); }
  void release_workspace() override { acc_.release_workspace(); }

 private:
  Names names_;
  procrustes::CudaProcrustesAccumulator acc_;
};
#endif

// Measures run where the features are: on the GPU when a model left them there (both sources
// on the same device), on the CPU otherwise.
std::unique_ptr<MeasureRun> make_run(Measure measure, bool on_gpu, Device device, const Names& names,
                                     const CompareSettings& s) {
  if (!on_gpu) {
    switch (measure) {
      case Measure::rsa: return std::make_unique<HostRsa>(names);
      case Measure::procrustes: return std::make_unique<HostProcrustes>(names);
      default: return std::make_unique<HostCka>(names, s);
    }
  }
#if CONVLAB_WITH_CUDA
  switch (measure) {
    case Measure::rsa: return std::make_unique<GpuRsa>(device, names);
    case Measure::procrustes: return std::make_unique<GpuProcrustes>(device, names);
    default: return std::make_unique<GpuCka>(device, names, s);
  }
#else
  CONVLAB_FAIL("features on {} need the CUDA measures, and this convlab was built without CUDA", device.name());
#endif
}

// The smallest batch every measure accepts.
int64_t smallest_batch(const CompareSettings& s) {
  int64_t smallest = 1;
  for (const auto& [limits, text] : limits_of(s)) smallest = std::max(smallest, limits.minimum);
  return smallest;
}

void check_settings(const CompareSettings& s) {
  CONVLAB_CHECK(!s.measures.empty(), "no measure to compute: choose cka, rsa or procrustes");
  CONVLAB_CHECK(std::find(s.measures.begin(), s.measures.end(), Measure::cka) == s.measures.end() || !s.kernels.empty(),
                "CKA needs at least one kernel");
  CONVLAB_CHECK(s.batch_size >= 1, "the batch size must be positive, got {}", s.batch_size);
  CONVLAB_CHECK(s.bootstrap == 0 || s.bootstrap >= 2, "the bootstrap needs at least 2 replicates, got {}",
                s.bootstrap);
}

// One comparison: its runs (one per measure) and what its matrices are labelled with.
struct Comparison {
  FeatureSource* a = nullptr;
  Names names;
  std::string col_source;
  std::vector<std::unique_ptr<MeasureRun>> runs;
};

std::vector<SimilarityMatrix> finish(const Comparison& c, const CompareSettings& s, int64_t used, int64_t batches,
                                     double seconds) {
  std::vector<SimilarityMatrix> out;
  for (size_t r = 0; r < c.runs.size(); ++r) {
    const MeasureRun& run = *c.runs[r];
    for (size_t o = 0; o < run.outputs(); ++o) {
      SimilarityMatrix m;
      m.measure = s.measures[r];
      m.options = {m.measure == Measure::cka ? s.kernels[o] : cka::Kernel::linear(), s.estimator};
      m.rows = static_cast<int64_t>(c.names.a.size());
      m.cols = static_cast<int64_t>(c.names.self ? c.names.a.size() : c.names.b.size());
      m.values = run.value(run.terms(o).weighted_mean(), true);
      m.row_names = c.names.a;
      m.col_names = c.names.self ? c.names.a : c.names.b;
      m.row_source = c.a->description();
      m.col_source = c.col_source;
      m.examples = used;
      m.batches = batches;
      m.batch_size = s.batch_size;
      m.last_batch = s.last_batch;
      m.seconds = seconds;
      m.forms = run.forms();
      if (s.bootstrap > 0) {
        const auto statistic = [&run](const std::vector<double>& mean) { return run.value(mean, false); };
        m.bootstrap = stats::bootstrap_batches(run.terms(o), statistic, s.bootstrap, s.seed);
      }
      out.push_back(std::move(m));
    }
  }
  return out;
}

// The batches [first, first + count) to use of n examples in batches of k.
std::vector<std::pair<int64_t, int64_t>> plan_batches(int64_t n, const CompareSettings& s) {
  const int64_t smallest = smallest_batch(s);
  std::vector<std::pair<int64_t, int64_t>> plan;
  for (int64_t first = 0; first < n; first += s.batch_size) {
    const int64_t count = std::min(s.batch_size, n - first);
    if (!plan.empty() && count < s.batch_size && s.last_batch == LastBatch::drop) break;
    if (!plan.empty() && count < smallest) break;  // a tail too small for an estimator
    plan.emplace_back(first, count);
  }
  check_batch_size(n, s);  // so the first batch, min(k, n) examples, reaches every minimum
  return plan;
}

// Runs `comparisons`, all against the same B (`reference`; null: each A against itself).
std::vector<std::vector<SimilarityMatrix>> run_all(std::vector<Comparison>& comparisons, FeatureSource* reference,
                                                   const CompareSettings& s) {
  const auto start = std::chrono::steady_clock::now();
  check_settings(s);
  const int64_t total = comparisons.front().a->examples();
  for (const Comparison& c : comparisons)
    CONVLAB_CHECK(c.a->examples() == total && (!reference || reference->examples() == total),
                  "{} has {} examples but {} has {}: the measures compare the same examples", c.a->description(),
                  c.a->examples(), reference ? reference->description() : comparisons.front().a->description(),
                  reference ? reference->examples() : total);
  const int64_t n = s.examples > 0 ? std::min(s.examples, total) : total;
  const Device device = comparisons.front().a->device();
  bool on_gpu = device.is_cuda() && (!reference || reference->device() == device);
  for (const Comparison& c : comparisons) on_gpu = on_gpu && c.a->device() == device;
  for (Comparison& c : comparisons)
    for (Measure m : s.measures) c.runs.push_back(make_run(m, on_gpu, device, c.names, s));
  const auto plan = plan_batches(n, s);
  CONVLAB_CHECK(s.bootstrap == 0 || plan.size() >= 2,
                "the bootstrap resamples batches and needs at least 2, but {} examples in batches of {} make {}: use "
                "a smaller --batch-size",
                n, s.batch_size, plan.size());
  warn_small_batches(n, s);
  const bool many = comparisons.size() > 1;
  std::map<const FeatureSource*, LayerScales> scales;  // one per source, for all its batches
  for (const auto& [first, count] : plan) {
    // The reference's features of this batch, extracted once for every comparison.
    std::vector<Tensor> fb = !reference ? std::vector<Tensor>{}
                             : on_gpu   ? reference->device_batch(first, count)
                                        : reference->batch(first, count);
    if (reference) scales[reference].apply(fb);
    for (Comparison& c : comparisons) {
      // The reference compared with itself (the final checkpoint of a run) reuses its features.
      std::vector<Tensor> own;
      if (c.a != reference) {
        own = on_gpu ? c.a->device_batch(first, count) : c.a->batch(first, count);
        scales[c.a].apply(own);
      }
      const std::vector<Tensor>& fa = c.a == reference ? fb : own;
      try {
        for (auto& run : c.runs) {
          run->add_batch(fa, fb);
          if (many) run->release_workspace();  // one comparison's buffers at a time
        }
      } catch (const Error& e) {
        // The measures name the layer ("of network A"); here, which features those were.
        const std::string where = !reference ? c.a->description()
                                             : fmt::format("network A: {}; network B: {}", c.a->description(),
                                                           reference->description());
        throw Error(fmt::format("{} [{}; examples {} to {}]", e.what(), where, first, first + count - 1));
      }
    }
  }
  const int64_t used = plan.back().first + plan.back().second;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<std::vector<SimilarityMatrix>> out;
  for (const Comparison& c : comparisons)
    out.push_back(finish(c, s, used, static_cast<int64_t>(plan.size()), seconds));
  return out;
}

}  // namespace

std::vector<SimilarityMatrix> compare_layers(FeatureSource& a, FeatureSource* b, const CompareSettings& settings) {
  std::vector<Comparison> comparisons(1);
  comparisons[0].a = &a;
  comparisons[0].names.a = a.layer_names();
  comparisons[0].names.self = b == nullptr;
  if (b) comparisons[0].names.b = b->layer_names();
  comparisons[0].col_source = b ? b->description() : a.description();
  return std::move(run_all(comparisons, b, settings).front());
}

std::vector<std::vector<SimilarityMatrix>> compare_against(const std::vector<FeatureSource*>& sources,
                                                           FeatureSource& reference,
                                                           const CompareSettings& settings) {
  CONVLAB_CHECK(!sources.empty(), "compare_against: no sources");
  std::vector<Comparison> comparisons(sources.size());
  for (size_t i = 0; i < sources.size(); ++i) {
    comparisons[i].a = sources[i];
    comparisons[i].names.a = sources[i]->layer_names();
    comparisons[i].names.b = reference.layer_names();
    comparisons[i].names.self = false;
    comparisons[i].col_source = reference.description();
  }
  return run_all(comparisons, &reference, settings);
}

std::vector<SimilarityMatrix> compare_layers(FeatureSource& a, FeatureSource* b,
                                             const std::vector<cka::Options>& options, int64_t batch_size,
                                             int64_t examples) {
  CONVLAB_CHECK(!options.empty(), "compare_layers: no CKA settings");
  CompareSettings s;
  s.kernels.clear();
  s.estimator = options.front().estimator;
  for (const cka::Options& o : options) {
    CONVLAB_CHECK(o.estimator == s.estimator, "compare_layers: all CKA settings need the same estimator");
    s.kernels.push_back(o.kernel);
  }
  s.batch_size = batch_size;
  s.examples = examples;
  return compare_layers(a, b, s);
}

}  // namespace convlab
