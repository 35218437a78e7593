#include "framework/linalg/centred_spectrum.h"

#include <algorithm>

#include "framework/core/error.h"
#include "framework/linalg/gram_f64.h"
#include "framework/linalg/symmetric_eigen.h"
#include "kernels/procrustes.h"

namespace convlab::linalg {

CentredSpectrum centred_spectrum(const cka::FeatureView& x) {
  CONVLAB_CHECK(symmetric_eigen_fits(x.rows()), "{}: an eigendecomposition of {} examples is beyond LAPACK's sizes: "
                "use a smaller --batch-size", x.label(), x.rows());
  return centred_spectrum_of_gram(gram_f64(x, Centring::columns), x.rows());
}

double gram_trace(const std::vector<double>& k, int64_t n) {
  double trace = 0.0;
  for (int64_t i = 0; i < n; ++i) trace += k[static_cast<size_t>(i * n + i)];
  return trace;
}

CentredSpectrum constant_spectrum(int64_t n) {
  CentredSpectrum out;
  out.n = n;
  out.constant = true;
  out.values.assign(static_cast<size_t>(n), 0.0);
  out.vectors.assign(static_cast<size_t>(n * n), 0.0);
  return out;
}

CentredSpectrum centred_spectrum_of_gram(std::vector<double> k, int64_t n) {
  CONVLAB_CHECK(static_cast<int64_t>(k.size()) == n * n, "a Gram of {} examples needs {} values, got {}", n, n * n,
                k.size());
  const double trace = gram_trace(k, n);
  if (!(trace > 0.0)) return constant_spectrum(n);
  for (double& v : k) v /= trace;
  const std::vector<double> ascending = symmetric_eigen(k, n);  // k now holds the eigenvectors
  return spectrum_from_eigen(ascending, k, n, /*vectors_in_rows=*/false);
}

CentredSpectrum spectrum_from_eigen(const std::vector<double>& ascending, const std::vector<double>& vectors, int64_t n,
                                    bool vectors_in_rows) {
  CONVLAB_CHECK(static_cast<int64_t>(ascending.size()) == n && static_cast<int64_t>(vectors.size()) == n * n,
                "an eigendecomposition of {} examples needs {} values and {} vector entries, got {} and {}", n, n,
                n * n, ascending.size(), vectors.size());
  CentredSpectrum out;
  out.n = n;
  const double largest = ascending.back();
  // Descending order: column j of the output is eigenvector n - 1 - j of the solver's.
  out.values.resize(static_cast<size_t>(n));
  out.vectors.resize(static_cast<size_t>(n * n));
  for (int64_t j = 0; j < n; ++j) {
    const int64_t from = n - 1 - j;
    out.values[static_cast<size_t>(j)] = kernels::eigen_floor(ascending[static_cast<size_t>(from)], largest, n);
    for (int64_t i = 0; i < n; ++i)
      out.vectors[static_cast<size_t>(i * n + j)] =
          vectors[static_cast<size_t>(vectors_in_rows ? from * n + i : i * n + from)];
  }
  out.rank = std::count_if(out.values.begin(), out.values.end(), [](double v) { return v > 0.0; });
  return out;
}

}  // namespace convlab::linalg
