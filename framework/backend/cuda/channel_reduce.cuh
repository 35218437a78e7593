// Per-channel sums over (N, H, W) of (N, C, H, W) tensors, for batch normalisation and the
// conv bias gradient. First pass: a (slices, C) grid, each block summing a fixed slice of
// one channel in double; second pass (the op's own kernel): one thread per channel adds its
// slices in order. The partition depends on the shape only, so results repeat bitwise.
#pragma once

#include <algorithm>
#include <cstdint>

#include "framework/backend/cuda/block_reduce.cuh"
#include "framework/backend/cuda/kernel_launch.h"

namespace convlab::backend_cuda {

struct ChannelLayout {
  int64_t batch = 0, channels = 0, plane = 0;
  int slices = 1;       // blocks per channel in the first pass
  bool narrow = false;  // every flat index fits 32 bits: divide in 32 bits (64-bit division is slow)

  __host__ __device__ int64_t count() const { return batch * plane; }  // elements per channel
  // Where element j (0 <= j < count()) of channel c lives: image j / plane, pixel j % plane.
  __device__ int64_t at(int64_t c, int64_t j) const {
    const int64_t n = narrow ? static_cast<uint32_t>(j) / static_cast<uint32_t>(plane) : j / plane;
    return (n * channels + c) * plane + (j - n * plane);
  }
  // The channel of flat element i.
  __device__ int64_t channel_of(int64_t i) const {
    if (narrow)
      return static_cast<uint32_t>(i) / static_cast<uint32_t>(plane) % static_cast<uint32_t>(channels);
    return (i / plane) % channels;
  }
};

// About this many elements per block of the first pass, and at most this many slices.
constexpr int64_t kSliceElements = 8192;
constexpr int kMaxSlices = 64;

inline ChannelLayout channel_layout(const Tensor& x, const char* op) {
  CONVLAB_CHECK(x.rank() >= 2 && x.dim(0) > 0 && x.dim(1) > 0 && x.numel() > 0,
                "{}: input {} needs a non-empty (N, C, ...)", op, x.describe());
  ChannelLayout l;
  l.batch = x.dim(0);
  l.channels = x.dim(1);
  l.plane = x.numel() / (l.batch * l.channels);
  CONVLAB_CHECK(l.channels <= 65535, "{}: {} channels is more than a CUDA grid dimension holds", op, l.channels);
  l.narrow = x.numel() <= int64_t{UINT32_MAX};
  l.slices = static_cast<int>(std::clamp<int64_t>((l.count() + kSliceElements - 1) / kSliceElements, 1, kMaxSlices));
  return l;
}

inline dim3 channel_grid(const ChannelLayout& l) {
  return dim3(static_cast<unsigned>(l.slices), static_cast<unsigned>(l.channels));
}

// Body of a first-pass kernel launched on channel_grid(l) with kThreads threads:
// terms(at, a, b) adds the contributions of element `at` to the two sums a and b. Writes
// partials[2 (c slices + s)] = a and [... + 1] = b.
template <class Terms>
__device__ void channel_partial_sums(const ChannelLayout& l, const Terms& terms, double* partials) {
  __shared__ double scratch[32];
  const int64_t c = blockIdx.y;
  const int64_t s = blockIdx.x;
  const int64_t begin = l.count() * s / l.slices, end = l.count() * (s + 1) / l.slices;
  double a = 0, b = 0;
  for (int64_t j = begin + threadIdx.x; j < end; j += blockDim.x) terms(l.at(c, j), a, b);
  a = block_sum(a, scratch);
  b = block_sum(b, scratch);
  if (threadIdx.x == 0) {
    partials[2 * (c * l.slices + s)] = a;
    partials[2 * (c * l.slices + s) + 1] = b;
  }
}

// Second pass: the two totals of channel c, its slices added in order.
__device__ inline void channel_totals(const ChannelLayout& l, const double* partials, int64_t c, double& a,
                                      double& b) {
  a = 0;
  b = 0;
  for (int s = 0; s < l.slices; ++s) {
    a += partials[2 * (c * l.slices + s)];
    b += partials[2 * (c * l.slices + s) + 1];
  }
}

// Storage for the partials of layout l: (C, slices, 2) doubles.
inline Tensor channel_partials(const ChannelLayout& l, Device device) {
  return Tensor::empty({l.channels * l.slices * 2}, DType::f64, device);
}

// One thread per channel for the second pass.
inline int channel_blocks(const ChannelLayout& l) { return static_cast<int>((l.channels + kThreads - 1) / kThreads); }

}  // namespace convlab::backend_cuda
