#include "framework/stats/pair_accumulator.h"

#include <cmath>

#include "framework/core/error.h"
#include "framework/stats/permutation_test.h"

namespace convlab::stats {

PairAccumulator::PairAccumulator(int64_t layers_a, int64_t layers_b, bool symmetric, int64_t extra_terms,
                                 std::string name, int64_t min_examples, int64_t max_examples)
    : pairs_(cka::LayerPairs::of(layers_a, layers_b)),
      symmetric_(symmetric),
      extra_(extra_terms),
      name_(std::move(name)),
      min_examples_(min_examples),
      max_examples_(max_examples),
      terms_(pairs_.layers_a() * pairs_.layers_b() + extra_terms) {}

void PairAccumulator::add_batch(const std::vector<cka::FeatureView>& a) {
  add_host_batch(pairs_.batch_rows(a, name_.c_str()));
}

void PairAccumulator::add_batch(const std::vector<cka::FeatureView>& a, const std::vector<cka::FeatureView>& b) {
  add_host_batch(pairs_.batch_rows(a, b, name_.c_str()));
}

void PairAccumulator::add_host_batch(const std::vector<const cka::FeatureView*>& views) {
  grams_->start(batches());
  if (grams_b_) grams_b_->start(batches());
  const size_t first_of_b = pairs_.self() ? views.size() : static_cast<size_t>(pairs_.layers_a());
  linalg::HostLayers layers(views, first_of_b, *grams_, grams_b_.get());
  accumulate(layers.rows());
}

void PairAccumulator::add_layers(const std::vector<linalg::LayerGrams*>& rows) {
  CONVLAB_CHECK(static_cast<int64_t>(rows.size()) == pairs_.rows(), "{}: expected {} layers in a batch, got {}", name_,
                pairs_.rows(), rows.size());
  accumulate(rows);
}

std::vector<double> PairAccumulator::value(const std::vector<double>& mean_terms) const {
  return std::vector<double>(mean_terms.begin(), mean_terms.begin() + layers_a() * layers_b());
}

void PairAccumulator::set_permutations(int64_t count, uint64_t seed) {
  CONVLAB_CHECK(count >= 0, "the permutations must be 0 or more, got {}", count);
  CONVLAB_CHECK(terms_.batches() == 0, "set the permutations before the first batch");
  permutation_seed_ = seed;
  null_terms_.assign(static_cast<size_t>(count), stats::BatchTerms(terms_.size()));
}

std::vector<std::vector<double>> PairAccumulator::null_values() const {
  std::vector<std::vector<double>> out;
  for (const stats::BatchTerms& t : null_terms_) out.push_back(value(t.weighted_mean()));
  return out;
}

void PairAccumulator::accumulate(const std::vector<linalg::LayerGrams*>& layers) {
  const int64_t k = layers[0]->rows();
  for (const linalg::LayerGrams* v : layers)
    CONVLAB_CHECK(v->rows() == k, "every layer of a batch holds the same examples: {} has {} rows, {} has {}",
                  layers[0]->label(), k, v->label(), v->rows());
  CONVLAB_CHECK(k >= min_examples_, "{} needs at least {} examples per batch, got {}", name_, min_examples_, k);
  CONVLAB_CHECK(k <= max_examples_, "{} takes at most {} examples per batch, got {}", name_, max_examples_, k);
  for (int64_t r = 0; r < pairs_.rows(); ++r) {
    pairs_.set_name(r, layers[static_cast<size_t>(r)]->name());
    try {
      prepare(r, *layers[static_cast<size_t>(r)]);
    } catch (const Error& e) {
      const std::string what = e.what();
      if (what.find(pairs_.label(r)) != std::string::npos || what.find(layers[static_cast<size_t>(r)]->label()) !=
                                                                   std::string::npos)
        throw;
      throw Error(fmt::format("{} of {}: {}", name_, pairs_.label(r), what));
    }
  }
  const int64_t la = pairs_.layers_a(), lb = pairs_.layers_b();
  // The pairs to compute: a symmetric measure of one network needs each unordered pair once.
  std::vector<std::pair<int64_t, int64_t>> todo;
  for (int64_t i = 0; i < la; ++i)
    for (int64_t j = (pairs_.self() && symmetric_) ? i : 0; j < lb; ++j) todo.emplace_back(i, j);
  std::vector<double> values(static_cast<size_t>(la * lb + extra_), NAN);
  const int64_t count = static_cast<int64_t>(todo.size());
  const auto compute = [&](int64_t t) {
    const auto [i, j] = todo[static_cast<size_t>(t)];
    const double v = pair_value(i, pairs_.row_of_b(j));
    values[static_cast<size_t>(i * lb + j)] = v;
    if (pairs_.self() && symmetric_) values[static_cast<size_t>(j * lb + i)] = v;
  };
  if (parallel_pairs()) {  // pair_value does not throw here (the derived class says so)
#pragma omp parallel for schedule(dynamic)
    for (int64_t t = 0; t < count; ++t) compute(t);
  } else {
    for (int64_t t = 0; t < count; ++t) compute(t);  // may throw: not inside an OpenMP region
  }
  if (extra_ > 0) extra_terms(values.data() + la * lb);
  // The null: every pair (both orders: B is permuted, A is not), B's rows reordered.
  std::vector<double> permuted(values);
  for (size_t p = 0; p < null_terms_.size(); ++p) {
    const std::vector<int32_t> perm =
        batch_permutation(permutation_seed_, terms_.batches(), static_cast<int64_t>(p), k);
    permute(perm, inverse_permutation(perm));
    const auto compute_null = [&](int64_t t) {
      const int64_t i = t / lb, j = t % lb;
      permuted[static_cast<size_t>(t)] = permuted_pair_value(i, pairs_.row_of_b(j));
    };
    if (parallel_pairs()) {
#pragma omp parallel for schedule(dynamic)
      for (int64_t t = 0; t < la * lb; ++t) compute_null(t);
    } else {
      for (int64_t t = 0; t < la * lb; ++t) compute_null(t);
    }
    null_terms_[p].add(permuted, static_cast<double>(k));  // the extra terms: B's own, unchanged
  }
  terms_.add(values, static_cast<double>(k));
  examples_ += k;
  clear();
  products_->clear();
}

}  // namespace convlab::stats
