// Per-element math of the CCA measures (SVCCA, Raghu et al. 2017; PWCCA, Morcos et al. 2018),
// shared by the CPU code in framework/cca and its CUDA twin.
#pragma once

#include <math.h>
#include <cstdint>

#include "kernels/hd.h"

namespace convlab::kernels {

// A canonical correlation from an eigenvalue of C C^T, C the product of two orthonormal
// bases: in [0, 1] in exact arithmetic; rounding's excursions are clamped.
CONVLAB_HD double canonical_correlation(double eigenvalue) {
  if (!(eigenvalue > 0.0)) return 0.0;
  return eigenvalue >= 1.0 ? 1.0 : sqrt(eigenvalue);
}

// Whether the leading `kept` directions (eigenvalues summing to `kept_variance`) reach the
// share `threshold` of the total variance (SVCCA's reduction keeps the fewest that do).
CONVLAB_HD bool variance_reached(double kept_variance, double total_variance, double threshold) {
  return kept_variance >= threshold * total_variance;
}

}  // namespace convlab::kernels
