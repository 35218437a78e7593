// Per-channel sums over (N, H, W) of (N, C, H, W) tensors in either memory format, for batch
// normalisation and the conv bias gradient. First pass: a grid of blocks, each summing a
// fixed slice of the rows of one channel (contiguous: a block per channel and slice, its
// threads striding over the slice and meeting in a block sum) or of 256 channels at once
// (channels_last: a thread per channel, its warp reading 32 neighbouring channels of a row
// together), in double; second pass (the op's own kernel): one thread per channel adds its
// slices in order. The partition depends on the shape only, so results repeat bitwise.
#pragma once

#include <algorithm>
#include <cstdint>

#include "framework/backend/cuda/block_reduce.cuh"
#include "framework/backend/cuda/kernel_launch.h"

namespace convlab::backend_cuda {

struct ChannelLayout {
  int64_t batch = 0, channels = 0, plane = 0;
  int slices = 1;              // blocks per channel (per channel group) in the first pass
  bool channels_last = false;  // memory (N, H, W, C)
  bool narrow = false;         // every flat index fits 32 bits: divide in 32 bits (64-bit division is slow)

  __host__ __device__ int64_t count() const { return batch * plane; }  // elements per channel
  // Where element j (0 <= j < count()) of channel c lives: image j / plane, pixel j % plane.
  __device__ int64_t at(int64_t c, int64_t j) const {
    if (channels_last) return j * channels + c;
    const int64_t n = narrow ? static_cast<uint32_t>(j) / static_cast<uint32_t>(plane) : j / plane;
    return (n * channels + c) * plane + (j - n * plane);
  }
  // The channel of flat element i.
  __device__ int64_t channel_of(int64_t i) const {
    if (narrow) {
      const uint32_t k = static_cast<uint32_t>(i);
      return channels_last ? k % static_cast<uint32_t>(channels)
                           : k / static_cast<uint32_t>(plane) % static_cast<uint32_t>(channels);
    }
    return channels_last ? i % channels : (i / plane) % channels;
  }
};

// Contiguous: about this many elements per block of the first pass, and at most this many
// slices. channels_last: about this many rows per block, and at most this many slices.
constexpr int64_t kSliceElements = 8192;
constexpr int kMaxSlices = 64;
constexpr int64_t kSliceRows = 32;
constexpr int kMaxRowSlices = 512;

inline ChannelLayout channel_layout(const Tensor& x, const char* op) {
  CONVLAB_CHECK(x.rank() >= 2 && x.dim(0) > 0 && x.dim(1) > 0 && x.numel() > 0,
                "{}: input {} needs a non-empty (N, C, ...)", op, x.describe());
  ChannelLayout l;
  l.batch = x.dim(0);
  l.channels = x.dim(1);
  l.plane = x.numel() / (l.batch * l.channels);
  l.channels_last = x.channels_last();
  CONVLAB_CHECK(l.channels <= 65535 * int64_t{kThreads}, "{}: {} channels is more than a CUDA grid holds", op,
                l.channels);
  CONVLAB_CHECK(l.channels_last || l.channels <= 65535, "{}: {} channels is more than a CUDA grid dimension holds",
                op, l.channels);
  l.narrow = x.numel() <= int64_t{UINT32_MAX};
  if (l.channels_last)
    l.slices = static_cast<int>(std::clamp<int64_t>((l.count() + kSliceRows - 1) / kSliceRows, 1, kMaxRowSlices));
  else
    l.slices = static_cast<int>(std::clamp<int64_t>((l.count() + kSliceElements - 1) / kSliceElements, 1, kMaxSlices));
  return l;
}

// The first pass's grid: (slices, channels) blocks contiguous, (slices, channel groups)
// channels_last; blocks of kThreads threads either way.
inline dim3 channel_grid(const ChannelLayout& l) {
  const int64_t groups = l.channels_last ? (l.channels + kThreads - 1) / kThreads : l.channels;
  return dim3(static_cast<unsigned>(l.slices), static_cast<unsigned>(groups));
}

// Body of a first-pass kernel launched on channel_grid(l) with kThreads threads:
// terms(c, at, a, b) adds the contributions of element `at` (of channel c) to the two sums a
// and b. Writes partials[2 (c slices + s)] = a and [... + 1] = b.
template <class Terms>
__device__ void channel_partial_sums(const ChannelLayout& l, const Terms& terms, double* partials) {
  const int64_t s = blockIdx.x;
  const int64_t begin = l.count() * s / l.slices, end = l.count() * (s + 1) / l.slices;
  double a = 0, b = 0;
  if (l.channels_last) {  // a thread per channel, rows in order
    const int64_t c = blockIdx.y * int64_t(blockDim.x) + threadIdx.x;
    if (c >= l.channels) return;
    for (int64_t j = begin; j < end; ++j) terms(c, j * l.channels + c, a, b);
    partials[2 * (c * l.slices + s)] = a;
    partials[2 * (c * l.slices + s) + 1] = b;
    return;
  }
  __shared__ double scratch[32];
  const int64_t c = blockIdx.y;
  for (int64_t j = begin + threadIdx.x; j < end; j += blockDim.x) terms(c, l.at(c, j), a, b);
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
