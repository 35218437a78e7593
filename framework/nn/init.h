// Seeded weight initialisation. Draws come from Philox keyed by (seed, kInit, tensor id), so
// a model is the same on every machine for the same seed.
#pragma once

#include <cstdint>

#include "framework/core/tensor.h"

namespace convlab::nn {

// Normal(0, stddev) by Box-Muller from Philox uniforms, into a CPU f32/f64 tensor.
void fill_normal(Tensor& t, double stddev, uint64_t seed, uint32_t tensor_id);

// He et al. 2015: stddev = sqrt(2 / fan_in), fan_in = C R S of a (K, C, R, S) weight (in of
// a linear layer's (out, in) weight).
void he_normal(Tensor& weight, uint64_t seed, uint32_t tensor_id);

}  // namespace convlab::nn
