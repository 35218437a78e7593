// Per-element math of the orthogonal Procrustes distance, shared by the CPU code in
// framework/procrustes and its CUDA twin.
#pragma once

#include <math.h>
#include <cstdint>

#include "kernels/hd.h"

namespace convlab::kernels {

// Eigenvalues of an (n, n) PSD matrix computed in f64 carry an absolute error of about
// n * eps * lambda_max: below that a value is rounding, not signal, and counts as 0 (also
// the clamp of rounding's small negatives).
inline constexpr double kEigenRelativeFloor = 2.220446049250313e-16;  // f64 epsilon
CONVLAB_HD double eigen_floor(double lambda, double lambda_max, int64_t n) {
  return lambda > kEigenRelativeFloor * static_cast<double>(n) * lambda_max ? lambda : 0.0;
}

// The Procrustes distance between centred, Frobenius-normalised X and Y from the nuclear
// norm ||X^T Y||_*: min over orthogonal Q of ||X - Y Q||_F^2 = 2 - 2 ||X^T Y||_*, in [0, 2]
// (rounding's excursions outside are clamped).
CONVLAB_HD double procrustes_from_nuclear(double nuclear) {
  const double d = 2.0 - 2.0 * nuclear;
  return d < 0.0 ? 0.0 : (d > 2.0 ? 2.0 : d);
}

}  // namespace convlab::kernels
