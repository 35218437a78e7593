// The rows of G that a minibatch CKA accumulator fills (CPU or CUDA): which belong to network
// A and which to network B, the layers' names for warnings, and the last step, from the mean
// HSIC of every pair of rows to the (L, M) CKA matrix, so that both accumulators end alike.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace convlab::cka {

class LayerPairs {
 public:
  // Network A against itself: R = L rows.
  explicit LayerPairs(int64_t layers);
  // L layers of network A against M layers of network B: R = L + M rows, A's first.
  LayerPairs(int64_t layers_a, int64_t layers_b);

  int64_t rows() const { return self_ ? layers_a_ : layers_a_ + layers_b_; }
  int64_t layers_a() const { return layers_a_; }
  int64_t layers_b() const { return self_ ? layers_a_ : layers_b_; }
  bool self() const { return self_; }
  // The row of G that holds layer j of network B.
  int64_t row_of_b(int64_t j) const { return self_ ? j : layers_a_ + j; }

  // Remembers a row's layer name; an empty name keeps the one seen before.
  void set_name(int64_t row, const std::string& name);
  // "layer 'conv3'" or "layer 2", and for two networks " of network A" or " of network B".
  std::string label(int64_t row) const;

  // (L, M) row-major CKA from the (R, R) row-major mean HSIC: entry (i, j) from the HSIC of
  // layer i of A with layer j of B and the two self terms. NaN, with a warning on stderr
  // unless `warn` is false (bootstrap replicates), for a layer whose self-HSIC is not positive.
  std::vector<double> cka(const std::vector<double>& mean_hsic, bool warn = true) const;

 private:
  bool self_ = true;
  int64_t layers_a_ = 0;
  int64_t layers_b_ = 0;
  std::vector<std::string> names_;  // (R)
};


}  // namespace convlab::cka
