#include "framework/analysis/compare.h"

#include <chrono>

#include "framework/cka/accumulator.h"
#include "framework/cka/centring.h"

namespace convlab {
namespace {

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

}  // namespace

std::vector<CkaMatrix> compare_layers(FeatureSource& a, FeatureSource* b, const std::vector<cka::Options>& settings,
                                      int64_t batch_size, int64_t examples) {
  const auto start = std::chrono::steady_clock::now();
  CONVLAB_CHECK(!settings.empty(), "compare_layers: no CKA settings");
  CONVLAB_CHECK(batch_size >= 1, "the CKA batch size must be positive, got {}", batch_size);
  CONVLAB_CHECK(!b || b->examples() == a.examples(), "{} has {} examples but {} has {}: CKA compares the same examples",
                a.description(), a.examples(), b->description(), b->examples());
  const int64_t n = examples > 0 ? std::min(examples, a.examples()) : a.examples();
  const std::vector<std::string> names_a = a.layer_names();
  const std::vector<std::string> names_b = b ? b->layer_names() : names_a;
  std::vector<cka::CkaAccumulator> accumulators;
  for (const cka::Options& o : settings)
    accumulators.push_back(b ? cka::CkaAccumulator(static_cast<int64_t>(names_a.size()),
                                                   static_cast<int64_t>(names_b.size()), o)
                             : cka::CkaAccumulator(static_cast<int64_t>(names_a.size()), o));
  const int64_t smallest = cka::min_examples(settings.front().estimator);
  int64_t used = 0;
  for (int64_t first = 0; first < n; first += batch_size) {
    const int64_t count = std::min(batch_size, n - first);
    if (count < smallest && used > 0) break;  // a tail too small for the estimator
    const std::vector<Tensor> fa = a.batch(first, count);
    const std::vector<Tensor> fb = b ? b->batch(first, count) : std::vector<Tensor>{};
    const auto va = views(fa, names_a);
    const auto vb = b ? views(fb, names_b) : std::vector<cka::FeatureView>{};
    for (cka::CkaAccumulator& acc : accumulators) b ? acc.add_batch(va, vb) : acc.add_batch(va);
    used += count;
  }
  CONVLAB_CHECK(used >= smallest, "CKA needs at least {} examples, got {}", smallest, used);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<CkaMatrix> out;
  for (size_t s = 0; s < settings.size(); ++s) {
    CkaMatrix m;
    m.rows = static_cast<int64_t>(names_a.size());
    m.cols = static_cast<int64_t>(names_b.size());
    m.values = accumulators[s].result();
    m.row_names = names_a;
    m.col_names = names_b;
    m.row_source = a.description();
    m.col_source = b ? b->description() : a.description();
    m.options = settings[s];
    m.examples = used;
    m.batch_size = batch_size;
    m.seconds = seconds;
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace convlab
