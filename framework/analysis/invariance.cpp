#include "framework/analysis/invariance.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "framework/cka/centring.h"
#include "framework/cka/cka.h"
#include "framework/cka/gram.h"
#include "kernels/philox.h"

namespace convlab {
namespace {

using Matrix = std::vector<double>;  // (n, p) row-major

Matrix to_f64(const Tensor& t) {
  Matrix m(static_cast<size_t>(t.numel()));
  if (t.dtype() == DType::f64)
    std::copy_n(t.host<double>(), t.numel(), m.begin());
  else
    std::copy_n(t.host<float>(), t.numel(), m.begin());
  return m;
}

// X <- X (I - 2 v v^T / v.v): one Householder reflection, O(n p).
void reflect(Matrix& x, int64_t n, int64_t p, const std::vector<double>& v) {
  const double vv = std::inner_product(v.begin(), v.end(), v.begin(), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    double* row = x.data() + i * p;
    const double xv = std::inner_product(row, row + p, v.begin(), 0.0);
    const double factor = 2 * xv / vv;
    for (int64_t j = 0; j < p; ++j) row[j] -= factor * v[j];
  }
}

}  // namespace

std::vector<InvarianceRow> invariance_checks(const std::vector<Tensor>& layers, const std::vector<std::string>& names,
                                             const cka::Options& options, uint64_t seed) {
  std::vector<InvarianceRow> rows;
  for (size_t l = 0; l < layers.size(); ++l) {
    const int64_t n = layers[l].dim(0), p = layers[l].dim(1);
    cka::check_examples(options.estimator, n);
    const Matrix x = to_f64(layers[l]);
    const RandomKey key{seed, static_cast<uint32_t>(0x1000 + l), 0};
    InvarianceRow row;
    row.layer = names[l];
    row.features = p;

    // X's Gram once; each transformed copy is written into one buffer and compared with it. The
    // centred copy of the features lives in one workspace: a layer is up to 1e5 features wide,
    // and fresh buffers for every copy cost more in page faults than the Grams.
    cka::CentredFeatures workspace;
    std::vector<double> k(static_cast<size_t>(n * n)), k_copy(static_cast<size_t>(n * n));  // (n, n) each
    cka::gram_into(cka::FeatureView(x, n, p), options.kernel, k.data(), workspace);
    Matrix copy(x.size());  // (n, p)
    auto cka_with_copy = [&] {
      cka::gram_into(cka::FeatureView(copy, n, p), options.kernel, k_copy.data(), workspace);
      return cka::cka_from_grams(k.data(), k_copy.data(), n, options.estimator, names[l], names[l]);
    };

    std::vector<int64_t> perm(static_cast<size_t>(p));
    std::iota(perm.begin(), perm.end(), 0);
    for (int64_t j = p - 1; j > 0; --j)
      std::swap(perm[j], perm[kernels::random_below(key, j, static_cast<uint32_t>(j + 1))]);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < p; ++j) copy[i * p + j] = x[i * p + perm[j]];
    row.permutation = cka_with_copy();

    for (size_t i = 0; i < x.size(); ++i) copy[i] = 3.7 * x[i];
    row.scaling = cka_with_copy();

    copy = x;
    std::vector<double> v(static_cast<size_t>(p));
    for (int r = 0; r < 8; ++r) {
      for (int64_t j = 0; j < p; ++j) v[j] = kernels::random_uniform(key, (r + 1) * uint64_t(p) + j) - 0.5;
      reflect(copy, n, p, v);
    }
    row.orthogonal = cka_with_copy();

    copy = x;
    for (int64_t j = 0; j < p; ++j) {
      const double d = std::exp(std::log(0.05) + std::log(400.0) * kernels::random_uniform(key, 20 * uint64_t(p) + j));
      for (int64_t i = 0; i < n; ++i) copy[i * p + j] *= d;
    }
    row.invertible = cka_with_copy();
    rows.push_back(row);
  }
  return rows;
}

}  // namespace convlab
