#include "framework/ridge/ridge.h"

#include <cblas.h>

#include <cmath>

#include "framework/cka/cka.h"
#include "framework/core/error.h"
#include "framework/linalg/centred_spectrum.h"
#include "framework/linalg/gram_f64.h"
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

double predictivity(const Predictor& x, const Target& y) {
  CONVLAB_CHECK(x.n == y.n, "predictivity compares the same examples: {} against {} rows", x.n, y.n);
  if (y.constant) return NAN;
  const int64_t n = x.n;
  std::vector<double> ml(static_cast<size_t>(n * n));  // M L
  cblas_dsymm(CblasRowMajor, CblasLeft, CblasUpper, static_cast<int>(n), static_cast<int>(n), 1.0, x.residual.data(),
              static_cast<int>(n), y.gram.data(), static_cast<int>(n), 0.0, ml.data(), static_cast<int>(n));
  double error = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    double square = 0.0;  // (M L M)_ii = sum_j (M L)_ij M_ji
    for (int64_t j = 0; j < n; ++j)
      square += ml[static_cast<size_t>(i * n + j)] * x.residual[static_cast<size_t>(i * n + j)];
    error += kernels::loo_squared_error(square, x.residual[static_cast<size_t>(i * n + i)]);
  }
  return 1.0 - error;  // tr(L) = 1
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

void RidgeAccumulator::prepare(int64_t row, linalg::LayerGrams& x) {
  if (predictors_.empty()) {
    predictors_.resize(static_cast<size_t>(layers_a()));
    targets_.resize(static_cast<size_t>(pairs().rows()));
  }
  if (pairs().self() || row >= layers_a())
    targets_[static_cast<size_t>(row)] = target_of_gram(x.gram(linalg::Centring::columns), x.rows());
  if (row < layers_a()) predictors_[static_cast<size_t>(row)] = predictor_of_spectrum(x.spectrum(), ridge_);
}

double RidgeAccumulator::pair_value(int64_t row_a, int64_t row_b) const {
  return predictivity(predictors_[static_cast<size_t>(row_a)], targets_[static_cast<size_t>(row_b)]);
}

void RidgeAccumulator::permute(const std::vector<int32_t>& perm, const std::vector<int32_t>&) {
  permuted_.resize(targets_.size());
  for (size_t r = 0; r < targets_.size(); ++r) {
    if (!is_b_row(static_cast<int64_t>(r))) continue;
    const Target& t = targets_[r];
    Target& out = permuted_[r];
    out.n = t.n;
    out.constant = t.constant;
    out.gram.resize(t.gram.size());
    const int64_t n = t.n;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j)
        out.gram[static_cast<size_t>(i * n + j)] =
            t.gram[static_cast<size_t>(perm[static_cast<size_t>(i)] * n + perm[static_cast<size_t>(j)])];
  }
}

double RidgeAccumulator::permuted_pair_value(int64_t row_a, int64_t row_b) const {
  return predictivity(predictors_[static_cast<size_t>(row_a)], permuted_[static_cast<size_t>(row_b)]);
}

}  // namespace convlab::ridge
