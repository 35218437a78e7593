// The features of k examples at one layer on a CUDA device, as the CUDA CKA reads them: an
// f32 tensor whose first dimension is the examples, each example's values flattened to p
// (row-major, so a (k, C, H, W) activation is (k, C*H*W)). Not owned: the tensor must outlive
// the view.
#pragma once

#include <cstdint>
#include <string>

#include "framework/core/tensor.h"

namespace convlab::cka {

class DeviceFeatureView {
 public:
  // Throws unless `features` is an f32 CUDA tensor with at least one example and one value.
  explicit DeviceFeatureView(const Tensor& features, std::string name = {});

  int64_t rows() const { return rows_; }  // examples
  int64_t cols() const { return cols_; }  // features per example
  const float* data() const { return data_; }
  Device device() const { return Device(context_); }
  const std::string& name() const { return name_; }
  std::string label() const;

 private:
  const float* data_ = nullptr;
  int64_t rows_ = 0;
  int64_t cols_ = 0;
  DeviceContext* context_ = nullptr;
  std::string name_;
};

}  // namespace convlab::cka
