#include "framework/linalg/symmetric_eigen.h"

#include <lapacke.h>

#include <limits>

#include "framework/core/error.h"

namespace convlab::linalg {
namespace {

std::vector<double> syevd(char job, std::vector<double>& a, int64_t n) {
  CONVLAB_CHECK(n >= 1 && static_cast<int64_t>(a.size()) >= n * n, "an eigendecomposition needs an (n, n) matrix, "
                "n >= 1; got n = {} and {} values", n, a.size());
  CONVLAB_CHECK(job == 'N' || symmetric_eigen_fits(n),
                "LAPACK's dsyevd cannot decompose a {0} x {0} matrix with eigenvectors: its workspace of 1 + 6n + 2n^2 "
                "doubles is beyond its 32-bit sizes", n);
  std::vector<double> w(static_cast<size_t>(n));
  const lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, job, 'U', static_cast<lapack_int>(n), a.data(),
                                         static_cast<lapack_int>(n), w.data());
  CONVLAB_CHECK(info == 0, "LAPACK dsyevd failed on a {} x {} matrix (info {}): {}", n, n, info,
                info < 0 ? "an invalid argument" : "the eigenvalues did not converge (NaN or infinite input?)");
  return w;
}

}  // namespace

bool symmetric_eigen_fits(int64_t n) {
  constexpr int64_t kLargest = std::numeric_limits<lapack_int>::max();
  if (n < 1 || n > kLargest) return false;
  // A workspace query (lwork = liwork = -1) reads none of a and w.
  double a = 0.0, w = 0.0, work = 0.0;
  lapack_int iwork = 0;
  const lapack_int size = static_cast<lapack_int>(n);
  const lapack_int info = LAPACKE_dsyevd_work(LAPACK_COL_MAJOR, 'V', 'U', size, &a, size, &w, &work, -1, &iwork, -1);
  // LAPACK's documented minima (1 for n = 1); a wrapped size falls below them.
  const double size_n = static_cast<double>(n);
  const double needed = n == 1 ? 1.0 : 1.0 + 6.0 * size_n + 2.0 * size_n * size_n;
  const double needed_ints = n == 1 ? 1.0 : 3.0 + 5.0 * size_n;
  return info == 0 && work >= needed && work <= static_cast<double>(kLargest) &&
         static_cast<double>(iwork) >= needed_ints;
}

std::vector<double> symmetric_eigenvalues(std::vector<double>& a, int64_t n) { return syevd('N', a, n); }

std::vector<double> symmetric_eigen(std::vector<double>& a, int64_t n) { return syevd('V', a, n); }

}  // namespace convlab::linalg
