// The rows of G that a minibatch CKA accumulator fills (CPU or CUDA): which belong to network
// A and which to network B, the layers' names for warnings, and the last step, from the mean
// HSIC of every pair of rows to the (L, M) CKA matrix, so that both accumulators end alike.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/core/error.h"

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

  // Network A against itself when layers_b is 0, else A's layers against B's.
  static LayerPairs of(int64_t layers_a, int64_t layers_b) {
    return layers_b == 0 ? LayerPairs(layers_a) : LayerPairs(layers_a, layers_b);
  }

  // One batch's layers in G's row order (A's, then B's) once they match these pairs;
  // `measure` ("CKA", "RSA", ...) names the caller in the error. View: FeatureView or
  // DeviceFeatureView.
  template <class View>
  std::vector<const View*> batch_rows(const std::vector<View>& a, const char* measure) const {
    CONVLAB_CHECK(self_, "this {} accumulator compares two networks: pass the features of both to add_batch(a, b)",
                  measure);
    CONVLAB_CHECK(static_cast<int64_t>(a.size()) == layers_a_, "expected features of {} layers, got {}", layers_a_,
                  a.size());
    std::vector<const View*> rows;
    for (const View& v : a) rows.push_back(&v);
    return rows;
  }
  template <class View>
  std::vector<const View*> batch_rows(const std::vector<View>& a, const std::vector<View>& b,
                                      const char* measure) const {
    CONVLAB_CHECK(!self_, "this {} accumulator compares one network with itself: pass its features to add_batch(a)",
                  measure);
    CONVLAB_CHECK(static_cast<int64_t>(a.size()) == layers_a_, "expected features of {} layers of network A, got {}",
                  layers_a_, a.size());
    CONVLAB_CHECK(static_cast<int64_t>(b.size()) == layers_b_, "expected features of {} layers of network B, got {}",
                  layers_b_, b.size());
    std::vector<const View*> rows;
    for (const View& v : a) rows.push_back(&v);
    for (const View& v : b) rows.push_back(&v);
    return rows;
  }

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
