// What a minibatch estimate is made of: the same few numbers computed on every batch of
// examples (CKA: the HSIC of every pair of layers; RSA and Procrustes: the per-batch values
// of every pair), each batch weighted by its number of examples. The estimate is the
// weighted mean over batches; a bootstrap (bootstrap.h) re-weights the batches.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace convlab::stats {

class BatchTerms {
 public:
  // `size` numbers per batch.
  explicit BatchTerms(int64_t size = 0);

  // One batch's `size` numbers, with its weight (its number of examples). Throws for a
  // weight that is not positive.
  void add(const double* values, double weight);
  void add(const std::vector<double>& values, double weight);

  int64_t size() const { return size_; }
  int64_t batches() const { return static_cast<int64_t>(weights_.size()); }
  double weight(int64_t batch) const { return weights_[static_cast<size_t>(batch)]; }
  const double* values(int64_t batch) const { return values_.data() + batch * size_; }
  double total_weight() const;

  // sum_b w_b v_b / sum_b w_b. Throws when no batch was added.
  std::vector<double> weighted_mean() const;
  // The same with batch b counted copies[b] times (a bootstrap replicate): sum_b c_b w_b v_b
  // / sum_b c_b w_b. copies has one count per batch, not all zero.
  std::vector<double> weighted_mean(const std::vector<uint32_t>& copies) const;

 private:
  int64_t size_ = 0;
  std::vector<double> values_;   // (batches, size)
  std::vector<double> weights_;  // (batches)
};

}  // namespace convlab::stats
