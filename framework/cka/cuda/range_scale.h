// The layer-wide scale of the range scaling on the device (kernels::range_scale): the largest
// magnitude of a layer's f32 features, kept as its f32 bit pattern (for non-negative floats
// the bits order like the values, so an integer atomicMax finds it), and the step that scales
// an f64 Gram back. CPU twin: the largest-magnitude pass of cka::centre_columns and the end of
// cka::linear_gram.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace convlab::cka_cuda {

// Queues on `stream`: *max_abs_bits = bits of max |x| over count values (set it to 0 first).
void max_abs(const float* x, int64_t count, uint32_t* max_abs_bits, cudaStream_t stream);

// Queues on `stream`: gram (n, n) f64 *= kernels::range_unscale(range_scale(max |x|)).
void unscale_gram(double* gram, int64_t n, const uint32_t* max_abs_bits, cudaStream_t stream);

// max |x| over count f32 values, waiting for it: scratch is one device u32 (the twin of the
// host loop in analysis/compare.cpp that picks a layer's power of two). NaN counts as larger
// than any number.
float largest_magnitude(const float* x, int64_t count, uint32_t* scratch, cudaStream_t stream);

// Queues on `stream`: x (count f32) *= 2^exponent, exact for results in f32's normal range.
void scale_by_power_of_two(float* x, int64_t count, int exponent, cudaStream_t stream);

}  // namespace convlab::cka_cuda
