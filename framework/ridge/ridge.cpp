#include "framework/ridge/ridge.h"

#include <cblas.h>

#include <cmath>

#include "framework/cka/cka.h"
#include "framework/core/error.h"
#include "framework/linalg/centred_spectrum.h"
#include "framework/linalg/gram_f64.h"
#include "framework/linalg/pair_products.h"
#include "kernels/ridge.h"

namespace convlab::ridge {

Predictor predictor_of_gram(std::vector<double> gram, int64_t n, double ridge) {
  return predictor_of_spectrum(linalg::centred_spectrum_of_gram(std::move(gram), n), ridge);
}

Predictor predictor_of_spectrum(const linalg::CentredSpectrum& s, double ridge) {
  CONVLAB_CHECK(ridge > 0.0 && std::isfinite(ridge), "the ridge penalty (--ridge) must be a positive number, got {}",
                ridge);
  const int64_t n = s.n;
  Predictor out;
  out.n = n;
  out.residual.assign(static_cast<size_t>(n * n), 0.0);
  if (s.constant) {  // no fit: the prediction is the mean (0), the residual everything
    for (int64_t i = 0; i < n; ++i) out.residual[static_cast<size_t>(i * n + i)] = 1.0;
    return out;
  }
  // K / tr(K) has mean eigenvalue 1 / n, so r = ridge / n.
  const double penalty = ridge / static_cast<double>(n);
  std::vector<double> scaled(s.vectors);  // U diag(f)
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      scaled[static_cast<size_t>(i * n + j)] *=
          kernels::ridge_residual_factor(s.values[static_cast<size_t>(j)], penalty);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(n), static_cast<int>(n), static_cast<int>(n),
              1.0, scaled.data(), static_cast<int>(n), s.vectors.data(), static_cast<int>(n), 0.0,
              out.residual.data(), static_cast<int>(n));
  return out;
}

Predictor predictor(const cka::FeatureView& x, double ridge) {
  return predictor_of_gram(linalg::gram_f64(x, linalg::Centring::columns), x.rows(), ridge);
}

Target target_of_gram(std::vector<double> gram, int64_t n) {
  Target out;
  out.n = n;
  double trace = 0.0;
  for (int64_t i = 0; i < n; ++i) trace += gram[static_cast<size_t>(i * n + i)];
  out.constant = !(trace > 0.0);
  if (!out.constant)
    for (double& v : gram) v /= trace;
  out.gram = std::move(gram);
  return out;
}

Target target(const cka::FeatureView& y) { return target_of_gram(linalg::gram_f64(y, linalg::Centring::columns), y.rows()); }

namespace {

// 1 - the mean held-out squared error, from diag(M L M) (linalg::sandwich_diagonal) and M's
// diagonal: tr(L) = 1, so the errors sum to the unexplained share.
double predictivity_of(const std::vector<double>& squares, const std::vector<double>& diagonal) {
  double error = 0.0;
  for (size_t i = 0; i < squares.size(); ++i) error += kernels::loo_squared_error(squares[i], diagonal[i]);
  return 1.0 - error;
}

std::vector<double> diagonal_of(const std::vector<double>& m, int64_t n) {
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = m[static_cast<size_t>(i * n + i)];
  return out;
}

}  // namespace

double predictivity(const Predictor& x, const Target& y) {
  CONVLAB_CHECK(x.n == y.n, "predictivity compares the same examples: {} against {} rows", x.n, y.n);
  if (y.constant) return NAN;
  return predictivity_of(linalg::sandwich_diagonal(x.residual.data(), y.gram.data(), x.n), diagonal_of(x.residual, x.n));
}

double predictivity(const cka::FeatureView& x, const cka::FeatureView& y, double ridge) {
  cka::check_same_examples(x, y);
  return predictivity(predictor(x, ridge), target(y));
}

RidgeAccumulator::RidgeAccumulator(int64_t layers_a, int64_t layers_b, double ridge)
    : PairAccumulator(layers_a, layers_b, /*symmetric=*/false, 0, "linear predictivity", kMinExamples, kMaxExamples),
      ridge_(ridge) {
  CONVLAB_CHECK(ridge > 0.0 && std::isfinite(ridge), "the ridge penalty (--ridge) must be a positive number, got {}",
                ridge);
}

// Slots of products(): row r's residual operator at r, its target Gram at rows + r.
void RidgeAccumulator::prepare(int64_t row, linalg::LayerGrams& x) {
  const int64_t rows = pairs().rows(), n = x.rows();
  if (diagonals_.empty()) {
    diagonals_.resize(static_cast<size_t>(layers_a()));
    constant_targets_.assign(static_cast<size_t>(rows), false);
  }
  if (pairs().self() || row >= layers_a()) {
    Target t = target_of_gram(x.gram(linalg::Centring::columns), n);
    constant_targets_[static_cast<size_t>(row)] = t.constant;
    products().set(rows + row, std::move(t.gram), n, n);
  }
  if (row < layers_a()) {
    Predictor p = predictor_of_spectrum(x.spectrum(), ridge_);
    diagonals_[static_cast<size_t>(row)] = diagonal_of(p.residual, n);
    products().set(row, std::move(p.residual), n, n);
  }
}

double RidgeAccumulator::value(int64_t row_a, int64_t row_b, bool permuted_b) const {
  if (constant_targets_[static_cast<size_t>(row_b)]) return NAN;
  return predictivity_of(products().sandwich_diagonal(row_a, pairs().rows() + row_b, permuted_b),
                         diagonals_[static_cast<size_t>(row_a)]);
}

double RidgeAccumulator::pair_value(int64_t row_a, int64_t row_b) const { return value(row_a, row_b, false); }

void RidgeAccumulator::permute(const std::vector<int32_t>& perm, const std::vector<int32_t>&) {
  for (int64_t r = 0; r < pairs().rows(); ++r)
    if (is_b_row(r)) products().set_permuted(pairs().rows() + r, perm, /*both_axes=*/true);
}

double RidgeAccumulator::permuted_pair_value(int64_t row_a, int64_t row_b) const { return value(row_a, row_b, true); }

}  // namespace convlab::ridge
