#include "framework/linalg/symmetric_eigen.h"

#include <lapacke.h>

#include "framework/core/error.h"

namespace convlab::linalg {
namespace {

std::vector<double> syevd(char job, std::vector<double>& a, int64_t n) {
  CONVLAB_CHECK(n >= 1 && static_cast<int64_t>(a.size()) >= n * n, "an eigendecomposition needs an (n, n) matrix, "
                "n >= 1; got n = {} and {} values", n, a.size());
  std::vector<double> w(static_cast<size_t>(n));
  const lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, job, 'U', static_cast<lapack_int>(n), a.data(),
                                         static_cast<lapack_int>(n), w.data());
  CONVLAB_CHECK(info == 0, "LAPACK dsyevd failed on a {} x {} matrix (info {}): {}", n, n, info,
                info < 0 ? "an invalid argument" : "the eigenvalues did not converge (NaN or infinite input?)");
  return w;
}

}  // namespace

std::vector<double> symmetric_eigenvalues(std::vector<double>& a, int64_t n) { return syevd('N', a, n); }

std::vector<double> symmetric_eigen(std::vector<double>& a, int64_t n) { return syevd('V', a, n); }

}  // namespace convlab::linalg
