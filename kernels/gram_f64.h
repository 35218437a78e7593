// The per-element step of the float64 Grams (linalg::gram_f64 on the CPU, its CUDA twin
// linalg::DeviceBatchGrams): a feature widened to float64 and multiplied by 2^-exponent, the
// power of two that brings the layer's largest magnitude into [0.5, 1).
#pragma once

#include <math.h>

#include "kernels/hd.h"

namespace convlab::kernels {

// 2^-exponent is itself beyond float64 for subnormal features (|exponent| >= 1000): each value
// is ldexp'd then; otherwise it is multiplied by the factor 2^-exponent (both exact).
CONVLAB_HD bool gram_scale_by_factor(int exponent) { return exponent < 1000 && exponent > -1000; }

CONVLAB_HD double gram_scaled_feature(double v, int exponent, double factor) {
  return gram_scale_by_factor(exponent) ? v * factor : ldexp(v, -exponent);
}

}  // namespace convlab::kernels
