#include "framework/cka/centring.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "framework/cka/parallel.h"
#include "framework/core/error.h"
#include "kernels/gram.h"

namespace convlab::cka {
namespace {

// Row sums (n) and column sums (n) of K, with the diagonal counted as zero if asked.
void sums(const double* k, int64_t n, bool skip_diagonal, std::vector<double>& row, std::vector<double>& col) {
  row.assign(static_cast<size_t>(n), 0.0);
  col.assign(static_cast<size_t>(n), 0.0);
#pragma omp parallel for schedule(static) if (n * n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    double s = 0.0;
    for (int64_t j = 0; j < n; ++j) s += kernels::off_diagonal(k[i * n + j], skip_diagonal && i == j);
    row[i] = s;
  }
  // Column sums walk rows so the memory is read in order; each thread owns a column range.
#pragma omp parallel for schedule(static) if (n * n >= kParallelMin)
  for (int64_t j0 = 0; j0 < n; j0 += 256) {
    const int64_t j1 = std::min(n, j0 + 256);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = j0; j < j1; ++j) col[j] += kernels::off_diagonal(k[i * n + j], skip_diagonal && i == j);
  }
}

double total(const std::vector<double>& row) {
  double t = 0.0;
  for (double r : row) t += r;
  return t;
}

}  // namespace

void centre_gram(double* k, int64_t n) {
  CONVLAB_CHECK(n >= 1, "cannot centre an empty Gram matrix");
  std::vector<double> row, col;
  sums(k, n, false, row, col);
  const double nd = static_cast<double>(n);
  const double grand = total(row) / (nd * nd);
  for (double& r : row) r /= nd;
  for (double& c : col) c /= nd;
#pragma omp parallel for schedule(static) if (n * n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) k[i * n + j] = kernels::centre_entry(k[i * n + j], row[i], col[j], grand);
}

void u_centre_gram(double* k, int64_t n) {
  check_examples(Estimator::debiased, n);
  std::vector<double> row, col;
  sums(k, n, true, row, col);
  const double t = total(row);
#pragma omp parallel for schedule(static) if (n * n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) k[i * n + j] = kernels::u_centre_entry(k[i * n + j], row[i], col[j], t, n, i == j);
}

bool centre_for(Estimator estimator, double* k, int64_t n) {
  check_examples(estimator, n);
  const int64_t count = n * n;
  double before = 0.0;
#pragma omp parallel for reduction(+ : before) schedule(static) if (count >= kParallelMin)
  for (int64_t i = 0; i < count; ++i) before += k[i] * k[i];
  if (estimator == Estimator::debiased)
    u_centre_gram(k, n);
  else
    centre_gram(k, n);
  double after = 0.0;
#pragma omp parallel for reduction(+ : after) schedule(static) if (count >= kParallelMin)
  for (int64_t i = 0; i < count; ++i) after += k[i] * k[i];
  // What is left is rounding of the means, not structure in the data.
  if (kernels::centred_to_rounding(after, before)) {
    std::fill(k, k + count, 0.0);
    return true;
  }
  return false;
}

int64_t min_examples(Estimator estimator) { return estimator == Estimator::debiased ? 4 : 2; }

void check_examples(Estimator estimator, int64_t n) {
  CONVLAB_CHECK(n >= min_examples(estimator),
                "the {} HSIC estimator needs at least {} examples, got {}{}", estimator_name(estimator),
                min_examples(estimator), n,
                estimator == Estimator::debiased ? " (its normaliser is n(n-3); use more examples per batch)" : "");
}

}  // namespace convlab::cka
