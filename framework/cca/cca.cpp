#include "framework/cca/cca.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>

#include "framework/cka/cka.h"
#include "framework/core/error.h"
#include "framework/linalg/symmetric_eigen.h"
#include "kernels/cca.h"

namespace convlab::cca {

Subspace reduce(const linalg::CentredSpectrum& s, const Reduction& r) {
  CONVLAB_CHECK((r.variance > 0.0 && r.variance <= 1.0) || r.dims > 0,
                "SVCCA keeps a share of the variance in (0, 1] (--svcca-variance) or a number of directions "
                "(--svcca-dims), got {}", r.variance);
  Subspace out;
  out.n = s.n;
  out.constant = s.constant || s.rank == 0;
  if (out.constant) return out;
  int64_t d = 0;
  if (r.dims > 0) {
    d = std::min(r.dims, s.rank);
  } else {
    double total = 0.0, kept = 0.0;
    for (int64_t j = 0; j < s.rank; ++j) total += s.values[static_cast<size_t>(j)];
    while (d < s.rank) {
      kept += s.values[static_cast<size_t>(d++)];
      if (kernels::variance_reached(kept, total, r.variance)) break;
    }
  }
  out.d = d;
  out.basis.resize(static_cast<size_t>(s.n * d));
  out.scale.resize(static_cast<size_t>(d));
  for (int64_t j = 0; j < d; ++j) out.scale[static_cast<size_t>(j)] = std::sqrt(s.values[static_cast<size_t>(j)]);
  for (int64_t i = 0; i < s.n; ++i)
    for (int64_t j = 0; j < d; ++j)
      out.basis[static_cast<size_t>(i * d + j)] = s.vectors[static_cast<size_t>(i * s.n + j)];
  return out;
}

Subspace subspace(const cka::FeatureView& x, const Reduction& reduction) {
  return reduce(linalg::centred_spectrum(x), reduction);
}

Correlations canonical_correlations(const Subspace& a, const Subspace& b, bool directions) {
  CONVLAB_CHECK(a.n == b.n, "CCA compares the same examples: {} against {} rows", a.n, b.n);
  const int64_t n = a.n, dx = a.d, dy = b.d, m = std::min(dx, dy);
  Correlations out;
  if (m == 0) return out;
  std::vector<double> c(static_cast<size_t>(dx * dy));  // C = U_dx^T U_dy (dx, dy)
  cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(dx), static_cast<int>(dy), static_cast<int>(n),
              1.0, a.basis.data(), static_cast<int>(dx), b.basis.data(), static_cast<int>(dy), 0.0, c.data(),
              static_cast<int>(dy));
  // The squared correlations are the eigenvalues of C C^T (dx, dx), or, for the values alone,
  // of the smaller of it and C^T C.
  const bool left = directions || dx <= dy;
  const int64_t s = left ? dx : dy;
  std::vector<double> g(static_cast<size_t>(s * s));
  if (left)
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, static_cast<int>(dx), static_cast<int>(dy), 1.0, c.data(),
                static_cast<int>(dy), 0.0, g.data(), static_cast<int>(dx));
  else
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, static_cast<int>(dy), static_cast<int>(dx), 1.0, c.data(),
                static_cast<int>(dy), 0.0, g.data(), static_cast<int>(dy));
  const std::vector<double> ascending =
      directions ? linalg::symmetric_eigen(g, s) : linalg::symmetric_eigenvalues(g, s);
  out.rho.resize(static_cast<size_t>(m));
  for (int64_t i = 0; i < m; ++i)
    out.rho[static_cast<size_t>(i)] = kernels::canonical_correlation(ascending[static_cast<size_t>(s - 1 - i)]);
  if (directions) {
    out.directions.resize(static_cast<size_t>(dx * m));
    for (int64_t r = 0; r < dx; ++r)
      for (int64_t i = 0; i < m; ++i)
        out.directions[static_cast<size_t>(r * m + i)] = g[static_cast<size_t>(r * s + (s - 1 - i))];
  }
  return out;
}

double svcca(const Subspace& a, const Subspace& b) {
  if (a.constant || b.constant) return NAN;
  const Correlations c = canonical_correlations(a, b, false);
  double sum = 0.0;
  for (double r : c.rho) sum += r;
  return sum / static_cast<double>(c.rho.size());
}

std::vector<double> pwcca_weights(const Subspace& a, const Correlations& c) {
  const int64_t dx = a.d, m = static_cast<int64_t>(c.rho.size());
  std::vector<double> alpha(static_cast<size_t>(m), 0.0);
  double total = 0.0;
  for (int64_t i = 0; i < m; ++i) {
    double w = 0.0;
    for (int64_t j = 0; j < dx; ++j)
      w += a.scale[static_cast<size_t>(j)] * std::abs(c.directions[static_cast<size_t>(j * m + i)]);
    alpha[static_cast<size_t>(i)] = w;
    total += w;
  }
  for (double& w : alpha) w /= total;
  return alpha;
}

double pwcca(const Subspace& a, const Subspace& b) {
  if (a.constant || b.constant) return NAN;
  const Correlations c = canonical_correlations(a, b, true);
  const std::vector<double> alpha = pwcca_weights(a, c);
  double sum = 0.0;
  for (size_t i = 0; i < alpha.size(); ++i) sum += alpha[i] * c.rho[i];
  return sum;
}

double svcca(const cka::FeatureView& x, const cka::FeatureView& y, const Reduction& reduction) {
  cka::check_same_examples(x, y);
  return svcca(subspace(x, reduction), subspace(y, reduction));
}

double pwcca(const cka::FeatureView& x, const cka::FeatureView& y, const Reduction& reduction) {
  cka::check_same_examples(x, y);
  return pwcca(subspace(x, reduction), subspace(y, reduction));
}

CcaAccumulator::CcaAccumulator(CcaMeasure measure, int64_t layers_a, int64_t layers_b, const Reduction& reduction)
    : PairAccumulator(layers_a, layers_b, /*symmetric=*/measure == CcaMeasure::svcca, 0,
                      measure == CcaMeasure::svcca ? "SVCCA" : "PWCCA", kMinExamples, kMaxExamples),
      measure_(measure),
      reduction_(reduction) {
  reduce(linalg::CentredSpectrum{}, reduction);  // checks the settings before any batch
}

void CcaAccumulator::prepare(int64_t row, linalg::LayerGrams& x) {
  if (static_cast<int64_t>(rows_.size()) <= row) rows_.resize(static_cast<size_t>(row + 1));
  rows_[static_cast<size_t>(row)] = reduce(x.spectrum(), reduction_);
  if (batches() == 0) {
    if (static_cast<int64_t>(dims_.size()) <= row) dims_.resize(static_cast<size_t>(row + 1), 0);
    dims_[static_cast<size_t>(row)] = rows_[static_cast<size_t>(row)].d;
  }
}

double CcaAccumulator::pair_value(int64_t row_a, int64_t row_b) const {
  const Subspace &a = rows_[static_cast<size_t>(row_a)], &b = rows_[static_cast<size_t>(row_b)];
  return measure_ == CcaMeasure::svcca ? svcca(a, b) : pwcca(a, b);
}

void CcaAccumulator::permute(const std::vector<int32_t>& perm, const std::vector<int32_t>&) {
  permuted_.resize(rows_.size());
  for (size_t r = 0; r < rows_.size(); ++r) {
    if (!is_b_row(static_cast<int64_t>(r))) continue;
    const Subspace& s = rows_[r];
    Subspace& out = permuted_[r];
    out = s;  // the same directions and scales; the examples (rows of the basis) reordered
    for (int64_t i = 0; i < s.n; ++i)
      std::copy(s.basis.begin() + perm[static_cast<size_t>(i)] * s.d,
                s.basis.begin() + (perm[static_cast<size_t>(i)] + 1) * s.d, out.basis.begin() + i * s.d);
  }
}

double CcaAccumulator::permuted_pair_value(int64_t row_a, int64_t row_b) const {
  const Subspace &a = rows_[static_cast<size_t>(row_a)], &b = permuted_[static_cast<size_t>(row_b)];
  return measure_ == CcaMeasure::svcca ? svcca(a, b) : pwcca(a, b);
}

}  // namespace convlab::cca
