// A FeatureSource over features held in memory: (n, p_l) float64 CPU tensors, one per layer,
// each batch a copy of its rows, for tests of compare_layers and what is built on it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/analysis/feature_source.h"
#include "tests/support/dense_matrix.h"

namespace convlab::test_support {

class VectorSource final : public FeatureSource {
 public:
  explicit VectorSource(std::string description) : description_(std::move(description)) {}
  // A layer's (n, p) values, row-major.
  void add(const std::string& name, const Matrix& values, int64_t n, int64_t p);
  std::string description() const override { return description_; }
  std::vector<std::string> layer_names() const override { return names_; }
  int64_t examples() const override { return layers_.empty() ? 0 : layers_.front().dim(0); }
  std::vector<Tensor> batch(int64_t first, int64_t count) override;

 private:
  std::string description_;
  std::vector<std::string> names_;
  std::vector<Tensor> layers_;
};

}  // namespace convlab::test_support
