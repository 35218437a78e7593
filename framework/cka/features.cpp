#include "framework/cka/features.h"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "framework/cka/parallel.h"
#include "framework/core/error.h"
#include "kernels/gram.h"

namespace convlab::cka {

FeatureView::FeatureView(const float* data, int64_t rows, int64_t cols, std::string name)
    : f32_(data), rows_(rows), cols_(cols), name_(std::move(name)) {
  validate();
}
FeatureView::FeatureView(const double* data, int64_t rows, int64_t cols, std::string name)
    : f64_(data), rows_(rows), cols_(cols), name_(std::move(name)) {
  validate();
}
FeatureView::FeatureView(const std::vector<float>& data, int64_t rows, int64_t cols, std::string name)
    : FeatureView(data.data(), rows, cols, std::move(name)) {
  CONVLAB_CHECK(static_cast<int64_t>(data.size()) == rows * cols, "{}: {} values for {} x {} features", label(),
                data.size(), rows, cols);
}
FeatureView::FeatureView(const std::vector<double>& data, int64_t rows, int64_t cols, std::string name)
    : FeatureView(data.data(), rows, cols, std::move(name)) {
  CONVLAB_CHECK(static_cast<int64_t>(data.size()) == rows * cols, "{}: {} values for {} x {} features", label(),
                data.size(), rows, cols);
}

std::string layer_label(const std::string& name) { return name.empty() ? "an unnamed layer" : "layer '" + name + "'"; }

void FeatureView::validate() const {
  CONVLAB_CHECK(rows_ > 0 && cols_ > 0, "{}: features need at least one example and one feature, got {} x {}",
                label(), rows_, cols_);
  CONVLAB_CHECK(f32_ != nullptr || f64_ != nullptr, "{}: null feature pointer", label());
}

namespace {

template <class T>
double centre(const T* x, int64_t n, int64_t p, const FeatureView& view, std::vector<T>& out) {
  // Column sums, largest magnitudes and "all equal to row 0" flags, one pass over the rows
  // per column block so that each thread streams whole rows of its block.
  std::vector<double> sum(static_cast<size_t>(p), 0.0);
  std::vector<T> largest(static_cast<size_t>(p), T(0));
  std::vector<unsigned char> constant(static_cast<size_t>(p), 1);
  constexpr int64_t kBlock = 1024;
#pragma omp parallel for schedule(static) if (n * p >= kParallelMin)
  for (int64_t c0 = 0; c0 < p; c0 += kBlock) {
    const int64_t c1 = std::min(p, c0 + kBlock);
    for (int64_t i = 0; i < n; ++i) {
      const T* row = x + i * p;
      for (int64_t c = c0; c < c1; ++c) {
        sum[c] += static_cast<double>(row[c]);
        largest[c] = std::max(largest[c], std::abs(row[c]));
        constant[c] &= static_cast<unsigned char>(row[c] == x[c]);
      }
    }
  }
  double max_abs = 0.0;
  for (T v : largest) max_abs = std::max(max_abs, static_cast<double>(v));
  const double scale = kernels::range_scale(max_abs);
  // The shift is rounded to T: a per-column constant error, which the Gram centring removes
  // (HSIC ignores translations). A constant column is shifted by its own value, so it
  // becomes exactly zero.
  std::vector<T> shift(static_cast<size_t>(p));
  for (int64_t c = 0; c < p; ++c) {
    if (!std::isfinite(sum[c]))
      CONVLAB_FAIL("{} has a NaN or infinite feature (column {} of {} x {}); CKA and the Procrustes distance need "
                   "finite features",
                   view.label(), c, n, p);
    shift[c] = kernels::column_shift(x[c], sum[c], n, constant[c] != 0);
  }
  out.resize(static_cast<size_t>(n * p));  // (n, p)
#pragma omp parallel for schedule(static) if (n * p >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const T* row = x + i * p;
    T* dst = out.data() + i * p;
    if (scale == 1.0)
      for (int64_t c = 0; c < p; ++c) dst[c] = row[c] - shift[c];
    else  // in f64: the power of two may be outside f32's range
      for (int64_t c = 0; c < p; ++c) dst[c] = static_cast<T>(static_cast<double>(row[c] - shift[c]) * scale);
  }
  return scale;
}

}  // namespace

void centre_columns(const FeatureView& x, CentredFeatures& out) {
  out.rows = x.rows();
  out.cols = x.cols();
  if (x.is_f32()) {
    out.f64.clear();
    out.scale = centre(x.f32(), x.rows(), x.cols(), x, out.f32);
  } else {
    out.f32.clear();
    out.scale = centre(x.f64(), x.rows(), x.cols(), x, out.f64);
  }
}

CentredFeatures centre_columns(const FeatureView& x) {
  CentredFeatures out;
  centre_columns(x, out);
  return out;
}

}  // namespace convlab::cka
