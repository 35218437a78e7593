#include "framework/cka/gram.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>

#include "framework/cka/centring.h"
#include "framework/cka/parallel.h"
#include "framework/cka/rbf_width.h"
#include "framework/core/error.h"
#include "kernels/gram.h"

namespace convlab::cka {
namespace {

// syrk fills the upper triangle; the lower one is the same inner products.
void mirror_upper(double* k, int64_t n) {
#pragma omp parallel for schedule(dynamic, 16) if (n * n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < i; ++j) k[i * n + j] = k[j * n + i];
}

}  // namespace

void linear_gram(const CentredFeatures& x, double* out) {
  const int64_t n = x.rows, p = x.cols;
  // A CUDA path swaps these products for cuBLAS ones on device buffers.
  if (!x.f64.empty()) {
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n, p, kernels::range_unscale(x.scale), x.f64.data(), p,
                0.0, out, n);
    mirror_upper(out, n);
    return;
  }
  std::fill(out, out + n * n, 0.0);
  std::vector<float> partial(static_cast<size_t>(n * n));  // (n, n), upper triangle used
  for (int64_t c0 = 0; c0 < p; c0 += kGramBlock) {
    const int64_t width = std::min(kGramBlock, p - c0);
    // Columns c0 .. c0+width of the row-major (n, p) matrix: a strided view, no copy.
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n, width, 1.0f, x.f32.data() + c0, p, 0.0f,
                partial.data(), n);
    // Serial on purpose: an OpenMP team between consecutive ssyrk calls would spin on the
    // cores OpenBLAS's threads need, and this sum is tiny next to the product.
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = i; j < n; ++j) out[i * n + j] += static_cast<double>(partial[i * n + j]);
  }
  // Back from the range scaling of centre_columns: exact (a power of two), in f64's range.
  if (x.scale != 1.0) {
    const double unscale = kernels::range_unscale(x.scale);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = i; j < n; ++j) out[i * n + j] *= unscale;
  }
  mirror_upper(out, n);
}

DistanceSpread distance_spread(const double* k, int64_t n) {
  CONVLAB_CHECK(n >= 2, "the RBF width needs distances between at least 2 examples, got {}", n);
  std::vector<double> d;  // the n(n-1)/2 distances of pairs i < j
  d.reserve(static_cast<size_t>(n * (n - 1) / 2));
  DistanceSpread out;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) {
      const double dij = kernels::squared_distance(k[i * n + i], k[j * n + j], k[i * n + j]);
      d.push_back(dij);
      out.largest = std::max(out.largest, dij);
      if (dij > 0.0 && (out.smallest_nonzero == 0.0 || dij < out.smallest_nonzero)) out.smallest_nonzero = dij;
    }
  const size_t mid = d.size() / 2;
  std::nth_element(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(mid), d.end());
  const double upper = d[mid];
  // The lower middle value (an even count) is the largest of those left of mid after nth_element.
  const double lower =
      d.size() % 2 == 1 ? upper : *std::max_element(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(mid));
  out.median = kernels::median_from_middle(lower, upper, static_cast<int64_t>(d.size()));
  return out;
}

double median_squared_distance(const double* k, int64_t n) { return distance_spread(k, n).median; }

namespace {

void check_fit(RbfFit fit, double frac, const std::string& label) {
  if (fit != RbfFit::fits)
    CONVLAB_FAIL("{}", rbf_misfit_message(label.empty() ? layer_label(label) : label, frac, fit));
}

}  // namespace

double rbf_from_linear_gram(double* k, int64_t n, double frac, const std::string& label, DistanceSpread* spread_out) {
  CONVLAB_CHECK(std::isfinite(frac) && frac > 0.0, "the RBF width fraction must be positive and finite, got {}",
                frac);
  const DistanceSpread spread = distance_spread(k, n);
  if (spread_out) *spread_out = spread;
  const double width_sq = kernels::rbf_width_sq(frac, spread.median);
  check_fit(rbf_fit(spread.smallest_nonzero, spread.largest, width_sq), frac, label);
  std::vector<double> diag(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) diag[i] = k[i * n + i];
#pragma omp parallel for schedule(static) if (n * n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      k[i * n + j] = kernels::rbf_entry(kernels::squared_distance(diag[i], diag[j], k[i * n + j]), width_sq);
  return width_sq;
}

bool centred_rbf_gram(double* k, int64_t n, double frac, Estimator estimator, const std::string& label) {
  DistanceSpread spread;
  const double width_sq = rbf_from_linear_gram(k, n, frac, label, &spread);
  const bool flat = centre_for(estimator, k, n);
  check_fit(rbf_fit(spread.smallest_nonzero, spread.largest, width_sq, flat), frac, label);
  return flat;
}

void gram_into(const FeatureView& x, const Kernel& kernel, double* out, CentredFeatures& workspace) {
  centre_columns(x, workspace);
  linear_gram(workspace, out);
  if (kernel.kind == KernelKind::rbf) rbf_from_linear_gram(out, x.rows(), kernel.rbf_frac, x.label());
}

void gram_into(const FeatureView& x, const Kernel& kernel, double* out) {
  CentredFeatures workspace;
  gram_into(x, kernel, out, workspace);
}

std::vector<double> gram(const FeatureView& x, const Kernel& kernel) {
  std::vector<double> k(static_cast<size_t>(x.rows() * x.rows()));  // (n, n)
  gram_into(x, kernel, k.data());
  return k;
}

}  // namespace convlab::cka
