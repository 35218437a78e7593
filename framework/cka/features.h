// The features of n examples at one layer, as CKA reads them: n rows of p values, row-major
// (C order), f32 or f64, not owned. A CPU Tensor t of shape (n, C, H, W) is
// FeatureView(t.host<float>(), t.dim(0), t.numel() / t.dim(0), "conv3").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace convlab::cka {

// For messages: "layer 'conv3'", or "an unnamed layer" for an empty name.
std::string layer_label(const std::string& name);

class FeatureView {
 public:
  FeatureView(const float* data, int64_t rows, int64_t cols, std::string name = {});
  FeatureView(const double* data, int64_t rows, int64_t cols, std::string name = {});
  FeatureView(const std::vector<float>& data, int64_t rows, int64_t cols, std::string name = {});
  FeatureView(const std::vector<double>& data, int64_t rows, int64_t cols, std::string name = {});

  int64_t rows() const { return rows_; }  // examples
  int64_t cols() const { return cols_; }  // features per example
  bool is_f32() const { return f32_ != nullptr; }
  const float* f32() const { return f32_; }
  const double* f64() const { return f64_; }
  const std::string& name() const { return name_; }
  std::string label() const { return layer_label(name_); }

 private:
  void validate() const;

  const float* f32_ = nullptr;
  const double* f64_ = nullptr;
  int64_t rows_ = 0;
  int64_t cols_ = 0;
  std::string name_;
};

// The features with each column's mean (over the rows, summed in f64) subtracted, in the
// input's precision. Both HSIC estimators are unchanged by translating the features, and the
// centred Gram loses far fewer digits to cancellation than X X^T of raw ReLU outputs. A
// column whose values are all equal becomes exactly zero, so constant features give an exactly
// zero Gram. Throws, naming the layer, on NaN or infinite input.
//
// The centred values are also multiplied by a power of two (kernels::range_scale of the
// layer's largest magnitude), so that they are of order 1 whatever the features' units:
// f32 products of features near 1e-21 lose bits to underflow, and near 1e-23 or 1e19 they
// vanish or overflow. The scaling is exact; linear_gram undoes it in f64.
struct CentredFeatures {
  int64_t rows = 0;
  int64_t cols = 0;
  double scale = 1.0;       // the values are (x - column mean) * scale
  std::vector<float> f32;   // (rows, cols) when the input was f32
  std::vector<double> f64;  // (rows, cols) when the input was f64
};
CentredFeatures centre_columns(const FeatureView& x);
// The same into out, reusing its memory: layers of 1e5 features make each copy ~100 MB, and a
// fresh one per layer and batch would spend more time in page faults than in arithmetic.
void centre_columns(const FeatureView& x, CentredFeatures& out);

}  // namespace convlab::cka
