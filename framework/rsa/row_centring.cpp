#include "framework/rsa/row_centring.h"

#include <algorithm>
#include <cmath>

#include "framework/cka/parallel.h"
#include "framework/core/error.h"
#include "kernels/gram.h"

namespace convlab::rsa {
namespace {

template <class T>
double centre(const T* x, int64_t n, int64_t p, const cka::FeatureView& view, std::vector<T>& out) {
  std::vector<T> shift(static_cast<size_t>(n));
  double max_abs = 0.0;
  bool finite = true;
#pragma omp parallel for schedule(static) reduction(max : max_abs) reduction(&& : finite) if (n * p >= cka::kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const T* row = x + i * p;
    double sum = 0.0;
    T largest = T(0);
    bool constant = true;
    for (int64_t c = 0; c < p; ++c) {
      sum += static_cast<double>(row[c]);
      largest = std::max(largest, std::abs(row[c]));
      constant = constant && row[c] == row[0];
    }
    finite = finite && std::isfinite(sum);
    max_abs = std::max(max_abs, static_cast<double>(largest));
    // The same shift as a column's (kernels::column_shift): the mean, or the value itself for
    // a constant row, which becomes exactly zero.
    shift[static_cast<size_t>(i)] = kernels::column_shift(row[0], sum, p, constant);
  }
  CONVLAB_CHECK(finite, "{} has a NaN or infinite feature ({} x {}); RSA needs finite features", view.label(), n, p);
  const double scale = kernels::range_scale(max_abs);
  out.resize(static_cast<size_t>(n * p));  // (n, p)
#pragma omp parallel for schedule(static) if (n * p >= cka::kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const T* row = x + i * p;
    T* dst = out.data() + i * p;
    const T s = shift[static_cast<size_t>(i)];
    if (scale == 1.0)
      for (int64_t c = 0; c < p; ++c) dst[c] = row[c] - s;
    else
      for (int64_t c = 0; c < p; ++c) dst[c] = static_cast<T>(static_cast<double>(row[c] - s) * scale);
  }
  return scale;
}

}  // namespace

void centre_rows(const cka::FeatureView& x, cka::CentredFeatures& out) {
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

}  // namespace convlab::rsa
