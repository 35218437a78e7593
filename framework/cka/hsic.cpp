#include "framework/cka/hsic.h"

#include <vector>

#include "framework/cka/centring.h"
#include "framework/cka/parallel.h"
#include "kernels/gram.h"

namespace convlab::cka {

double dot(const double* a, const double* b, int64_t count) {
  double s = 0.0;
#pragma omp parallel for reduction(+ : s) schedule(static) if (count >= kParallelMin)
  for (int64_t i = 0; i < count; ++i) s += a[i] * b[i];
  return s;
}

double hsic_biased(const double* k, const double* l, int64_t n) {
  check_examples(Estimator::biased, n);
  std::vector<double> kc(k, k + n * n), lc(l, l + n * n);  // (n, n) each
  centre_gram(kc.data(), n);
  centre_gram(lc.data(), n);
  return kernels::biased_hsic_from_product(dot(kc.data(), lc.data(), n * n), n);
}

double hsic_debiased(const double* k, const double* l, int64_t n) {
  check_examples(Estimator::debiased, n);
  std::vector<double> k1(static_cast<size_t>(n)), l1(static_cast<size_t>(n));  // K1, L1 (diagonals zeroed)
  double trace_kl = 0.0;
#pragma omp parallel for reduction(+ : trace_kl) schedule(static) if (n * n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    double ks = 0.0, ls = 0.0;
    for (int64_t j = 0; j < n; ++j) {
      const double kij = kernels::off_diagonal(k[i * n + j], i == j);
      const double lij = kernels::off_diagonal(l[i * n + j], i == j);
      trace_kl += kij * lij;
      ks += kij;
      ls += lij;
    }
    k1[i] = ks;
    l1[i] = ls;
  }
  double sum_k = 0.0, sum_l = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    sum_k += k1[i];
    sum_l += l1[i];
  }
  const double ones_kl_ones = dot(k1.data(), l1.data(), n);
  return kernels::debiased_hsic_terms(trace_kl, sum_k, sum_l, ones_kl_ones, n);
}

double hsic(Estimator estimator, const double* k, const double* l, int64_t n) {
  return estimator == Estimator::debiased ? hsic_debiased(k, l, n) : hsic_biased(k, l, n);
}

}  // namespace convlab::cka
