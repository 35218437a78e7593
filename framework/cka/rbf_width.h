// Whether an RBF width fits a batch's distances, shared by the CPU Gram (gram.cpp) and its
// CUDA twin (cuda/rbf_gram.cu). K_ij = exp(-D_ij / (2 s^2)) with s^2 = frac^2 * median D: a
// fraction far from 1 makes every off-diagonal entry 1 (s much wider than the largest
// distance) or 0 (s much narrower than the smallest), and the kernel then tells no example
// from another. Centring leaves rounding of such a Gram (CKA then reads it as a constant
// layer, NaN), or the identity, the same for every layer; either way the width is at fault,
// not the features, and the message must say so.
#pragma once

#include <cstdint>
#include <string>

#include "kernels/hd.h"

namespace convlab::cka {

enum class RbfFit : int32_t {
  fits = 0,
  all_ones = 1,   // every off-diagonal entry within kRbfFlat of 1, or no more variation than rounding
  all_zeros = 2,  // every off-diagonal entry between distinct points below kRbfFlat, or as above
};

// The level below which a kernel's variation is rounding: the Gram centring's (centring.h).
inline constexpr double kRbfFlat = 1e-10;
// exp(-x) <= kRbfFlat for x >= -ln(kRbfFlat).
inline constexpr double kRbfFlatExponent = 23.025850929940457;

// From the batch's smallest nonzero and largest squared distance over pairs i < j, and s^2. A
// zero width (more than half of the distances zero) is the documented narrow limit, not a
// misfit; so are all-zero distances (constant features, which CKA reports as such).
CONVLAB_HD RbfFit rbf_fit(double smallest_nonzero, double largest, double width_sq) {
  if (!(width_sq > 0.0) || !(largest > 0.0)) return RbfFit::fits;
  if (largest / (2.0 * width_sq) <= kRbfFlat) return RbfFit::all_ones;
  if (smallest_nonzero / (2.0 * width_sq) >= kRbfFlatExponent) return RbfFit::all_zeros;
  return RbfFit::fits;
}

// The same once the Gram is centred for its estimator: `flat` is whether centring left only
// rounding (centring.h: the Gram is then set to zero). A flat Gram of examples that differ
// (largest > 0) is the width's doing as well, on whichever side its entries lie.
CONVLAB_HD RbfFit rbf_fit(double smallest_nonzero, double largest, double width_sq, bool flat) {
  const RbfFit fit = rbf_fit(smallest_nonzero, largest, width_sq);
  if (fit != RbfFit::fits || !flat || !(largest > 0.0) || !(width_sq > 0.0)) return fit;
  return smallest_nonzero / (2.0 * width_sq) >= 1.0 ? RbfFit::all_zeros : RbfFit::all_ones;
}

// The message for a width that does not fit, naming the layer (a label: "layer 'conv3'") and
// the fraction, as --rbf-frac sets it.
std::string rbf_misfit_message(const std::string& label, double frac, RbfFit fit);

}  // namespace convlab::cka
