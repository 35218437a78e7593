#include "framework/analysis/compare.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>

#include "framework/analysis/measure_run.h"
#include "framework/cca/cca.h"
#include "framework/cka/centring.h"
#include "framework/procrustes/procrustes.h"
#include "framework/ridge/ridge.h"
#include "framework/rsa/rsa.h"

namespace convlab {

const char* measure_name(Measure measure) {
  switch (measure) {
    case Measure::rsa: return "rsa";
    case Measure::procrustes: return "procrustes";
    case Measure::mutual_knn: return "mutual_knn";
    case Measure::cknna: return "cknna";
    case Measure::svcca: return "svcca";
    case Measure::pwcca: return "pwcca";
    case Measure::ridge: return "ridge";
    default: return "cka";
  }
}

namespace {
constexpr Measure kEveryMeasure[] = {Measure::cka,   Measure::rsa,   Measure::procrustes, Measure::mutual_knn,
                                     Measure::cknna, Measure::svcca, Measure::pwcca,      Measure::ridge};
}  // namespace

std::optional<Measure> measure_named(const std::string& name) {
  for (Measure m : kEveryMeasure)
    if (name == measure_name(m)) return m;
  return std::nullopt;
}

std::string measure_names() {
  std::string out;
  for (Measure m : kEveryMeasure) out += (out.empty() ? "" : ", ") + std::string(measure_name(m));
  return out;
}

bool asymmetric(Measure measure) {
  return measure == Measure::pwcca || measure == Measure::ridge || measure == Measure::cknna;
}

bool host_only(Measure measure) {
  return measure != Measure::cka && measure != Measure::rsa && measure != Measure::procrustes;
}

std::vector<std::pair<std::string, double>> measure_parameters(Measure measure, const CompareSettings& s) {
  switch (measure) {
    case Measure::mutual_knn:
    case Measure::cknna: return {{"knn", static_cast<double>(s.knn)}};
    case Measure::svcca:
    case Measure::pwcca:
      if (s.svcca_dims > 0) return {{"svcca_dims", static_cast<double>(s.svcca_dims)}};
      return {{"svcca_variance", s.svcca_variance}};
    case Measure::ridge: return {{"ridge", s.ridge}};
    default: return {};
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
  CompareSettings s;
  s.estimator = estimator;
  return batch_limits(measure, s);
}

// The newer measures have no advised size: their batch is part of their definition (mutual
// k-NN and CKNNA search neighbours within it; CCA and ridge fit within it), stated in
// docs/measures.md and recorded in summary.json.
BatchLimits batch_limits(Measure measure, const CompareSettings& s) {
  const cka::Estimator estimator = s.estimator;
  switch (measure) {
    case Measure::mutual_knn: return {std::max<int64_t>(3, s.knn + 1), std::max<int64_t>(3, s.knn + 1)};
    case Measure::cknna: return {std::max<int64_t>(4, s.knn + 1), std::max<int64_t>(4, s.knn + 1)};
    case Measure::svcca:
    case Measure::pwcca: return {cca::kMinExamples, cca::kMinExamples, cca::kMaxExamples};
    case Measure::ridge: return {ridge::kMinExamples, ridge::kMinExamples, ridge::kMaxExamples};
    case Measure::rsa: return {std::max<int64_t>(3, rsa::kMinExamples), 4};
    case Measure::procrustes: return {std::max<int64_t>(3, procrustes::kMinExamples), 800, procrustes::kMaxExamples};
    default:
      if (estimator == cka::Estimator::debiased) return {cka::min_examples(estimator), cka::min_examples(estimator)};
      return {std::max<int64_t>(3, cka::min_examples(estimator)), 900};
  }
}

cka::GramPrecision default_precision(Measure measure) {
  return measure == Measure::cka ? cka::GramPrecision::tf32 : cka::GramPrecision::fp32;
}

cka::GramPrecision precision_for(Measure measure, const CompareSettings& settings) {
  return settings.precision.value_or(default_precision(measure));
}

namespace {

using namespace analysis_detail;

// One comparison: its runs (one per measure) and what its matrices are labelled with.
struct Comparison {
  FeatureSource* a = nullptr;
  LayerNames names;
  std::string col_source;
  std::vector<std::unique_ptr<MeasureRun>> runs;
};

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
// `warn`: print the warnings about the settings (once, not per comparison).
std::vector<std::vector<SimilarityMatrix>> run_all(std::vector<Comparison>& comparisons, FeatureSource* reference,
                                                   const CompareSettings& s, bool warn) {
  const auto start = std::chrono::steady_clock::now();
  check_compare_settings(s);
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
  // B's features are the same for every comparison of a batch: so are their Grams.
  const ReferenceGrams reference_grams = make_reference_grams(on_gpu, device);
  for (Comparison& c : comparisons)
    c.runs = make_measure_runs(on_gpu, device, c.names, s, reference ? &reference_grams : nullptr);
  const auto plan = plan_batches(n, s);
  CONVLAB_CHECK(s.bootstrap == 0 || plan.size() >= 2,
                "the bootstrap resamples batches and needs at least 2, but {} examples in batches of {} make {}: use "
                "a smaller --batch-size",
                n, s.batch_size, plan.size());
  if (warn) warn_small_batches(n, s);
  const bool many = comparisons.size() > 1;
  std::map<const FeatureSource*, LayerScales> scales;  // one per source, for all its batches
  bool memory_checked = !on_gpu;  // at the first (and largest) batch, before the measures allocate
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
      if (!memory_checked) {
        check_gpu_memory(fa, fb, s);  // fb is empty when A is compared with itself
        memory_checked = true;
      }
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
    out.push_back(measure_matrices(
        c.runs, s, {c.names, c.a->description(), c.col_source, used, static_cast<int64_t>(plan.size()), seconds},
        warn && out.empty()));
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
  return std::move(run_all(comparisons, b, settings, true).front());
}

std::vector<std::vector<SimilarityMatrix>> compare_against(const std::vector<FeatureSource*>& sources,
                                                           FeatureSource& reference,
                                                           const CompareSettings& settings, bool warn) {
  CONVLAB_CHECK(!sources.empty(), "compare_against: no sources");
  std::vector<Comparison> comparisons(sources.size());
  for (size_t i = 0; i < sources.size(); ++i) {
    comparisons[i].a = sources[i];
    comparisons[i].names.a = sources[i]->layer_names();
    comparisons[i].names.b = reference.layer_names();
    comparisons[i].names.self = false;
    comparisons[i].col_source = reference.description();
  }
  return run_all(comparisons, &reference, settings, warn);
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
