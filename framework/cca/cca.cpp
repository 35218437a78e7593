#include "framework/cca/cca.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>

#include "framework/cka/cka.h"
#include "framework/core/error.h"
#include "framework/linalg/pair_products.h"
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

namespace {

// The tail of canonical_correlations, from cross_gram's result g: (s, s), s = dx when
// `left`, else dy.
Correlations correlations_of_cross_gram(std::vector<double> g, int64_t dx, int64_t dy, bool left, bool directions) {
  const int64_t m = std::min(dx, dy), s = left ? dx : dy;
  Correlations out;
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

// The squared correlations are the eigenvalues of C C^T (dx, dx), or, for the values alone,
// of the smaller of it and C^T C: which side cross_gram forms.
bool left_side(int64_t dx, int64_t dy, bool directions) { return directions || dx <= dy; }

double svcca_of(const Correlations& c) {
  double sum = 0.0;
  for (double r : c.rho) sum += r;
  return sum / static_cast<double>(c.rho.size());  // NaN when nothing was kept
}

double pwcca_of(const Subspace& a, const Correlations& c) {
  const std::vector<double> alpha = pwcca_weights(a, c);
  double sum = 0.0;
  for (size_t i = 0; i < alpha.size(); ++i) sum += alpha[i] * c.rho[i];
  return sum;
}

}  // namespace

Correlations canonical_correlations(const Subspace& a, const Subspace& b, bool directions) {
  CONVLAB_CHECK(a.n == b.n, "CCA compares the same examples: {} against {} rows", a.n, b.n);
  const int64_t dx = a.d, dy = b.d;
  if (std::min(dx, dy) == 0) return {};
  const bool left = left_side(dx, dy, directions);
  return correlations_of_cross_gram(linalg::cross_gram(a.basis.data(), b.basis.data(), a.n, dx, dy, left), dx, dy,
                                    left, directions);
}

double svcca(const Subspace& a, const Subspace& b) {
  if (a.constant || b.constant) return NAN;
  return svcca_of(canonical_correlations(a, b, false));
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
  return pwcca_of(a, canonical_correlations(a, b, true));
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
  Subspace& s = rows_[static_cast<size_t>(row)];
  s = reduce(x.spectrum(), reduction_);
  if (batches() == 0) {
    if (static_cast<int64_t>(dims_.size()) <= row) dims_.resize(static_cast<size_t>(row + 1), 0);
    dims_[static_cast<size_t>(row)] = s.d;
  }
  if (!s.constant) products().set(row, std::move(s.basis), s.n, s.d);  // the pairs read it there
  s.basis.clear();
}

double CcaAccumulator::value(int64_t row_a, int64_t row_b, bool permuted_b) const {
  const Subspace &a = rows_[static_cast<size_t>(row_a)], &b = rows_[static_cast<size_t>(row_b)];
  if (a.constant || b.constant) return NAN;  // a layer that is not constant keeps a direction or more
  const bool directions = measure_ == CcaMeasure::pwcca;
  const bool left = left_side(a.d, b.d, directions);
  const Correlations c =
      correlations_of_cross_gram(products().cross_gram(row_a, row_b, permuted_b, left), a.d, b.d, left, directions);
  return measure_ == CcaMeasure::svcca ? svcca_of(c) : pwcca_of(a, c);
}

double CcaAccumulator::pair_value(int64_t row_a, int64_t row_b) const { return value(row_a, row_b, false); }

void CcaAccumulator::permute(const std::vector<int32_t>& perm, const std::vector<int32_t>&) {
  // The same directions and scales; the examples (rows of the basis) reordered.
  for (size_t r = 0; r < rows_.size(); ++r)
    if (is_b_row(static_cast<int64_t>(r)) && !rows_[r].constant)
      products().set_permuted(static_cast<int64_t>(r), perm, /*both_axes=*/false);
}

double CcaAccumulator::permuted_pair_value(int64_t row_a, int64_t row_b) const { return value(row_a, row_b, true); }

}  // namespace convlab::cca
