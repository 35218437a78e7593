// Per-element math of linear predictivity (the leave-one-out R^2 of a ridge regression), shared
// by the CPU code in framework/ridge and its CUDA twin.
#pragma once

#include <cstdint>

#include "kernels/hd.h"

namespace convlab::kernels {

// The ridge's residual operator I - K (K + r I)^-1 has the eigenvectors of the Gram K and
// eigenvalue r / (lambda + r) for K's eigenvalue lambda: how much of that direction of the
// target the fit leaves.
CONVLAB_HD double ridge_residual_factor(double lambda, double penalty) { return penalty / (lambda + penalty); }

// One example's leave-one-out squared error, from the in-sample residual's squared norm
// (row i of M Y, squared: (M L M)_ii) and the residual operator's diagonal M_ii (Allen 1974:
// the held-out residual is the in-sample one divided by M_ii).
CONVLAB_HD double loo_squared_error(double residual_square, double m_ii) { return residual_square / (m_ii * m_ii); }

}  // namespace convlab::kernels
