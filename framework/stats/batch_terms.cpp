#include "framework/stats/batch_terms.h"

#include <cmath>

#include "framework/core/error.h"

namespace convlab::stats {

BatchTerms::BatchTerms(int64_t size) : size_(size) {
  CONVLAB_CHECK(size >= 0, "a batch holds a non-negative number of terms, got {}", size);
}

void BatchTerms::add(const double* values, double weight) {
  CONVLAB_CHECK(std::isfinite(weight) && weight > 0.0, "a batch's weight must be positive, got {}", weight);
  values_.insert(values_.end(), values, values + size_);
  weights_.push_back(weight);
}

void BatchTerms::add(const std::vector<double>& values, double weight) {
  CONVLAB_CHECK(static_cast<int64_t>(values.size()) == size_, "expected {} terms for a batch, got {}", size_,
                values.size());
  add(values.data(), weight);
}

double BatchTerms::total_weight() const {
  double total = 0.0;
  for (double w : weights_) total += w;
  return total;
}

std::vector<double> BatchTerms::weighted_mean() const {
  return weighted_mean(std::vector<uint32_t>(weights_.size(), 1u));
}

std::vector<double> BatchTerms::weighted_mean(const std::vector<uint32_t>& copies) const {
  CONVLAB_CHECK(batches() > 0, "no batches added: the estimate needs the features of at least one batch");
  CONVLAB_CHECK(copies.size() == weights_.size(), "expected a count for each of the {} batches, got {}",
                weights_.size(), copies.size());
  std::vector<double> mean(static_cast<size_t>(size_), 0.0);
  double total = 0.0;
  for (int64_t b = 0; b < batches(); ++b) {
    if (copies[static_cast<size_t>(b)] == 0) continue;
    const double w = weights_[static_cast<size_t>(b)] * copies[static_cast<size_t>(b)];
    const double* v = values(b);
    for (int64_t i = 0; i < size_; ++i) mean[static_cast<size_t>(i)] += w * v[i];
    total += w;
  }
  CONVLAB_CHECK(total > 0.0, "a replicate needs at least one batch");
  for (double& m : mean) m /= total;
  return mean;
}

}  // namespace convlab::stats
