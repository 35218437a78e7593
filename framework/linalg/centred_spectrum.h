// The eigendecomposition of a layer's centred Gram K = X_c X_c^T (n, n), normalised to unit
// trace: the principal directions of the n examples in example space. U sqrt(Lambda) are the
// layer's principal-component scores (X_c = U sqrt(Lambda) V^T), so every measure that only
// depends on the span and spread of X_c (SVCCA, PWCCA, ridge predictivity) can work from it,
// however wide the layer: the (n, n) Gram instead of the (p, p) covariance. Float64 throughout
// (linalg::gram_f64, LAPACK dsyevd).
#pragma once

#include <cstdint>
#include <vector>

#include "framework/cka/features.h"

namespace convlab::linalg {

struct CentredSpectrum {
  int64_t n = 0;
  std::vector<double> values;   // (n): eigenvalues of K / tr(K), descending; rounding (eigen_floor) is 0
  std::vector<double> vectors;  // (n, n) row-major: column j is the unit eigenvector of values[j]
  int64_t rank = 0;             // how many values are positive
  bool constant = false;        // every feature constant over the examples: K = 0, nothing to measure
};

// Throws, naming the layer, for NaN or infinite features, and (before any work) for an n that
// dsyevd cannot take (symmetric_eigen_fits).
CentredSpectrum centred_spectrum(const cka::FeatureView& x);
// The same from the centred Gram itself (gram_f64(x, Centring::columns)), which it consumes.
CentredSpectrum centred_spectrum_of_gram(std::vector<double> gram, int64_t n);

// The steps both it and its CUDA twin (DeviceBatchGrams::spectrum) take around the
// eigensolver. The trace of an (n, n) Gram, summed in index order; not positive: every
// feature is constant, and the spectrum is constant_spectrum(n).
double gram_trace(const std::vector<double>& gram, int64_t n);
CentredSpectrum constant_spectrum(int64_t n);
// From the eigendecomposition of K / tr(K): `ascending` eigenvalues (the solvers' order) and
// (n, n) `vectors` holding the unit eigenvector of ascending[j] in column j (row-major: LAPACK's
// output here), or in row j when `vectors_in_rows` (cuSOLVER's column-major output).
CentredSpectrum spectrum_from_eigen(const std::vector<double>& ascending, const std::vector<double>& vectors, int64_t n,
                                    bool vectors_in_rows);

}  // namespace convlab::linalg
