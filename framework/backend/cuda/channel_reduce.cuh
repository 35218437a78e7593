// Per-channel work on (N, C, ...) tensors in either memory format, for batch normalisation
// and the convolution bias: deterministic per-channel sums, and element-wise maps with
// per-channel parameters.
//
// Sums, in double, in two passes. First pass, a block per (slice of the rows, channel group):
// - channels_last (memory (N H W, C)): a block of 256 threads is a tile of G channels x R rows:
//   G = 32 (the lane is the channel within a group of 32, the warp the row), or G = C when
//   C < 32, with 32 / C rows per warp so that a warp still reads 32 neighbouring elements.
//   Each thread walks its slice's rows R apart, in order; the R row-partials of each channel
//   then meet in a fixed tree in shared memory. Masked lanes (past C) add nothing.
// - contiguous: a block per (slice, channel), its threads striding over the slice and meeting
//   in block_sum.
// Partials are stored (2, slices, C), so the second pass reads rows of neighbouring channels.
// Second pass (run inside the op's own kernel): a block per 4 channels, 64 threads per
// channel each adding every 64th slice in order, then a fixed tree over the 64.
// The partition depends on the shape only -- the slice counts are fixed for a 132-SM GPU,
// not read from the device -- so the results repeat bitwise, on every GPU.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <numeric>
#include <type_traits>

#include "framework/backend/cuda/block_reduce.cuh"
#include "framework/backend/cuda/kernel_launch.h"
#include "framework/backend/cuda/storage.cuh"

namespace convlab::backend_cuda {

struct ChannelLayout {
  int64_t batch = 0, channels = 0, plane = 0;
  int slices = 1;              // first-pass blocks per channel (per channel group)
  int group = 32;              // channels_last: channels per tile, G
  bool channels_last = false;  // memory (N, H, W, C)
  bool narrow = false;         // every flat index fits 32 bits: divide in 32 bits (64-bit division is slow)

  __host__ __device__ int64_t count() const { return batch * plane; }  // elements per channel
  __host__ __device__ int64_t numel() const { return batch * channels * plane; }
  // channels_last: rows per warp and per tile (R) of the first pass.
  __host__ __device__ int rows_per_warp() const { return 32 / group; }
  __host__ __device__ int tile_rows() const { return kThreads / 32 * rows_per_warp(); }
  __host__ __device__ int64_t groups() const { return (channels + group - 1) / group; }
  // Where element j (0 <= j < count()) of channel c lives: image j / plane, pixel j % plane.
  __device__ int64_t at(int64_t c, int64_t j) const {
    if (channels_last) return j * channels + c;
    const int64_t n = narrow ? static_cast<uint32_t>(j) / static_cast<uint32_t>(plane) : j / plane;
    return (n * channels + c) * plane + (j - n * plane);
  }
  // The channel of flat element i (0 <= i < numel()).
  __device__ int64_t channel_of(int64_t i) const {
    if (narrow) {
      const uint32_t k = static_cast<uint32_t>(i);
      return channels_last ? k % static_cast<uint32_t>(channels)
                           : k / static_cast<uint32_t>(plane) % static_cast<uint32_t>(channels);
    }
    return channels_last ? i % channels : (i / plane) % channels;
  }
  // The channels of flat elements repeat with this period: C channels_last, C H W contiguous.
  __host__ __device__ int64_t channel_period() const { return channels_last ? channels : channels * plane; }
};

// Contiguous: about this many elements per first-pass block, and at most this many slices.
constexpr int64_t kSliceElements = 8192;
constexpr int kMaxSlices = 64;
// channels_last: about this many first-pass blocks: 16 per SM of a 132-SM H100 or H200, so
// that every SM holds as many blocks as its registers allow (5-6) and the last, partial wave
// of blocks is a small part of the whole. A constant, not the device's SM count, so that the
// partition -- and so the bits of the result -- are the same on every GPU.
constexpr int64_t kRowBlocks = 16 * 132;
// channels_last: every thread walks at least this many rows (one batch of loads in flight).
constexpr int kRowUnroll = 8;

inline ChannelLayout channel_layout(const Tensor& x, const char* op) {
  CONVLAB_CHECK(x.rank() >= 2 && x.dim(0) > 0 && x.dim(1) > 0 && x.numel() > 0,
                "{}: input {} needs a non-empty (N, C, ...)", op, x.describe());
  ChannelLayout l;
  l.batch = x.dim(0);
  l.channels = x.dim(1);
  l.plane = x.numel() / (l.batch * l.channels);
  l.channels_last = x.channels_last();
  l.narrow = x.numel() <= int64_t{UINT32_MAX};
  if (l.channels_last) {
    l.group = static_cast<int>(std::min<int64_t>(l.channels, 32));
    const int64_t by_rows = std::max<int64_t>(1, l.count() / (int64_t{l.tile_rows()} * kRowUnroll));
    const int64_t wanted = (kRowBlocks + l.groups() - 1) / l.groups();
    l.slices = static_cast<int>(std::clamp<int64_t>(std::min(wanted, by_rows), 1, kRowBlocks));
  } else {
    l.slices = static_cast<int>(std::clamp<int64_t>((l.count() + kSliceElements - 1) / kSliceElements, 1, kMaxSlices));
  }
  return l;
}

// ---- First pass ----

// Its grid: (slices, channel groups) blocks channels_last, (slices, channels) contiguous;
// blocks of kThreads threads either way.
inline dim3 channel_grid(const ChannelLayout& l, const char* op) {
  const int64_t rows = l.channels_last ? l.groups() : l.channels;
  CONVLAB_CHECK(rows <= 65535, "{}: {} channels is more than a CUDA grid holds", op, l.channels);
  return dim3(static_cast<unsigned>(l.slices), static_cast<unsigned>(rows));
}

// Body of a first-pass kernel launched on channel_grid(l) with kThreads threads. terms(c)
// gives, for channel c, a function term(at, a, b) that adds the contributions of element `at`
// (of channel c) to the two sums a and b. Writes partials (2, slices, C).
template <class Terms>
__device__ void channel_partial_sums(const ChannelLayout& l, const Terms& terms, double* partials) {
  __shared__ double tile[2][kThreads];  // channels_last: (2, tile row, channel in group); else block_sum's scratch
  const int64_t s = blockIdx.x;
  const int64_t begin = l.count() * s / l.slices, end = l.count() * (s + 1) / l.slices;
  double* out_a = partials + s * l.channels;                  // (slices, C)
  double* out_b = partials + (l.slices + s) * l.channels;     // (slices, C)
  double a = 0, b = 0;
  if (!l.channels_last) {
    const int64_t c = blockIdx.y;
    const auto term = terms(c);
    for (int64_t j = begin + threadIdx.x; j < end; j += blockDim.x) term(l.at(c, j), a, b);
    a = block_sum(a, tile[0]);
    b = block_sum(b, tile[1]);
    if (threadIdx.x == 0) {
      out_a[c] = a;
      out_b[c] = b;
    }
    return;
  }
  const int g = l.group, per_warp = l.rows_per_warp(), rows = l.tile_rows();
  const int lane = static_cast<int>(threadIdx.x % 32), sub = lane / g;
  const int k = lane - sub * g;                                       // channel within the group
  const int row = static_cast<int>(threadIdx.x / 32) * per_warp + sub;  // row within the tile
  const int64_t c = int64_t(blockIdx.y) * g + k;
  const bool in_tile = sub < per_warp;  // lanes past per_warp * g (C < 32 not dividing 32) idle
  if (in_tile && c < l.channels) {
    const auto term = terms(c);
    const int64_t step = int64_t{rows} * l.channels;  // between a thread's rows
    int64_t j = begin + row, at = j * l.channels + c;
    // kRowUnroll rows per trip: no stores in between, so their loads are all in flight at once;
    // the sums still take the rows in order.
    for (; j + (kRowUnroll - 1) * rows < end; j += kRowUnroll * rows, at += kRowUnroll * step) {
#pragma unroll
      for (int u = 0; u < kRowUnroll; ++u) term(at + u * step, a, b);
    }
    for (; j < end; j += rows, at += step) term(at, a, b);
  }
  if (in_tile) {
    tile[0][row * g + k] = a;
    tile[1][row * g + k] = b;
  }
  __syncthreads();
  // Fixed tree over the tile's rows: while n rows remain, row r adds row r + ceil(n / 2).
  for (int n = rows; n > 1;) {
    const int h = (n + 1) / 2;
    for (int i = static_cast<int>(threadIdx.x); i < (n - h) * g; i += blockDim.x) {
      tile[0][i] += tile[0][i + h * g];
      tile[1][i] += tile[1][i + h * g];
    }
    __syncthreads();
    n = h;
  }
  const int64_t first = int64_t(blockIdx.y) * g;
  if (static_cast<int>(threadIdx.x) < g && first + threadIdx.x < l.channels) {
    out_a[first + threadIdx.x] = tile[0][threadIdx.x];
    out_b[first + threadIdx.x] = tile[1][threadIdx.x];
  }
}

// Storage for the partials of layout l: (2, slices, C) doubles.
inline Tensor channel_partials(const ChannelLayout& l, Device device) {
  return Tensor::empty({2, l.slices, l.channels}, DType::f64, device);
}

// ---- Second pass ----

// 4 channels of doubles are one 32-byte sector of a (slices, C) row; 64 threads per channel
// keep up to 2112 slices to a few rounds of loads in flight.
constexpr int kTotalsChannels = 4;                        // channels per block
constexpr int kTotalsLanes = kThreads / kTotalsChannels;  // threads per channel (a power of 2)

// Its grid: totals_blocks(l) blocks of kThreads threads.
inline int totals_blocks(const ChannelLayout& l) {
  return static_cast<int>((l.channels + kTotalsChannels - 1) / kTotalsChannels);
}

// Body of a second-pass kernel: the two totals of each channel, its slices added in a fixed
// order; finish(c, a, b) runs once per channel with them.
template <class Finish>
__device__ void channel_totals(const ChannelLayout& l, const double* partials, const Finish& finish) {
  __shared__ double lanes[2][kThreads];  // (2, lane, channel in block)
  const int k = static_cast<int>(threadIdx.x % kTotalsChannels), r = static_cast<int>(threadIdx.x / kTotalsChannels);
  const int64_t c = int64_t(blockIdx.x) * kTotalsChannels + k;
  double a = 0, b = 0;
  if (c < l.channels) {
    const double* in_a = partials + c;                                  // column c of (slices, C)
    const double* in_b = partials + int64_t{l.slices} * l.channels + c;  // column c of (slices, C)
#pragma unroll 8
    for (int s = r; s < l.slices; s += kTotalsLanes) {
      a += in_a[s * l.channels];
      b += in_b[s * l.channels];
    }
  }
  lanes[0][threadIdx.x] = a;
  lanes[1][threadIdx.x] = b;
  __syncthreads();
  for (int n = kTotalsLanes / 2; n > 0; n /= 2) {  // lane r adds lane r + n
    if (r < n) {
      lanes[0][threadIdx.x] += lanes[0][threadIdx.x + n * kTotalsChannels];
      lanes[1][threadIdx.x] += lanes[1][threadIdx.x + n * kTotalsChannels];
    }
    __syncthreads();
  }
  if (r == 0 && c < l.channels) finish(c, lanes[0][k], lanes[1][k]);
}

// One thread per channel.
inline int channel_blocks(const ChannelLayout& l) { return static_cast<int>((l.channels + kThreads - 1) / kThreads); }

// ---- Element-wise maps with per-channel parameters ----
//
// out[i] = op(in_0[i], ..., in_{K-1}[i]; p_0[c], ..., p_{M-1}[c]) with c the channel of flat
// element i, in float: inputs of storage In, the output of storage Out, rounded once when
// stored (`out` may be one of the inputs). Each thread takes L elements at a time (16-byte
// vectors when every pointer is 16-byte aligned, else single elements), and its stride
// through them is a multiple of the period of the channel pattern, so every vector a thread
// meets has the same channels in the same lanes: the thread reads its lanes' per-channel
// values once, into registers, and computes no channel per element (any C: in channels_last
// with C a multiple of L the lanes are channels c0 .. c0 + L - 1, otherwise they wrap).

template <class In, class Out, int kInputs, int kParams>
struct ChannelMapArgs {
  const In* in[kInputs];
  Out* out;
  const float* params[kParams];  // (C) each
};

// L elements (vector v) as floats, and back: 4 or 8 floats from one or two float4, 8 bf16
// values from one uint4, or a single element.
template <int L>
__device__ __forceinline__ void load_lanes(const float* p, int64_t v, float (&out)[L]) {
  if constexpr (L == 1) {
    out[0] = p[v];
  } else {
    static_assert(L % 4 == 0);
#pragma unroll
    for (int h = 0; h < L / 4; ++h) {
      float q[4];
      load_vector(p, v * (L / 4) + h, q);
#pragma unroll
      for (int e = 0; e < 4; ++e) out[4 * h + e] = q[e];
    }
  }
}
template <int L>
__device__ __forceinline__ void load_lanes(const Bf16* p, int64_t v, float (&out)[L]) {
  static_assert(L == 1 || L == 8);
  if constexpr (L == 1) out[0] = load(p, v);
  else load_vector(p, v, out);
}
template <int L>
__device__ __forceinline__ void store_lanes(float* p, int64_t v, const float (&in)[L]) {
  if constexpr (L == 1) {
    p[v] = in[0];
  } else {
    static_assert(L % 4 == 0);
#pragma unroll
    for (int h = 0; h < L / 4; ++h) {
      const float q[4] = {in[4 * h], in[4 * h + 1], in[4 * h + 2], in[4 * h + 3]};
      store_vector(p, v * (L / 4) + h, q);
    }
  }
}
template <int L>
__device__ __forceinline__ void store_lanes(Bf16* p, int64_t v, const float (&in)[L]) {
  static_assert(L == 1 || L == 8);
  if constexpr (L == 1) store(p, v, in[0]);
  else store_vector(p, v, in);
}

// Elements per vector: 16 bytes of the narrower storage.
template <class In, class Out>
inline constexpr int kMapLanes = static_cast<int>(16 / std::min(sizeof(In), sizeof(Out)));

// Launched with `stride` threads or more (those past it return), stride a multiple of the
// channel period in vectors.
template <int L, class In, class Out, int kInputs, int kParams, class Op>
__global__ void __launch_bounds__(kThreads)
    channel_map_kernel(ChannelMapArgs<In, Out, kInputs, kParams> args, ChannelLayout l, int64_t stride, Op op) {
  const int64_t id = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (id >= stride) return;
  const int64_t n = l.numel(), vectors = n / L;
  float p[kParams][L];  // this thread's lanes' per-channel values
#pragma unroll
  for (int lane = 0; lane < L; ++lane) {
    const int64_t c = l.channel_of((id * L + lane) % l.channel_period());
#pragma unroll
    for (int k = 0; k < kParams; ++k) p[k][lane] = args.params[k][c];
  }
  auto compute = [&](const float (&in)[kInputs][L], int64_t v) {
    float out[L];
#pragma unroll
    for (int lane = 0; lane < L; ++lane) {
      float x[kInputs], q[kParams];
#pragma unroll
      for (int k = 0; k < kInputs; ++k) x[k] = in[k][lane];
#pragma unroll
      for (int k = 0; k < kParams; ++k) q[k] = p[k][lane];
      out[lane] = op(x, q);
    }
    store_lanes<L>(args.out, v, out);
  };
  // Two vectors per trip, both read before either is written (the output may alias an input,
  // so the compiler could not hoist the second trip's loads above the first one's store).
  for (int64_t v = id; v < vectors; v += 2 * stride) {
    const int64_t w = v + stride;
    float first[kInputs][L], second[kInputs][L];
#pragma unroll
    for (int k = 0; k < kInputs; ++k) load_lanes<L>(args.in[k], v, first[k]);
    if (w < vectors) {
#pragma unroll
      for (int k = 0; k < kInputs; ++k) load_lanes<L>(args.in[k], w, second[k]);
    }
    compute(first, v);
    if (w < vectors) compute(second, w);
  }
  // The last n mod L elements one by one.
  for (int64_t i = vectors * L + id; i < n; i += stride) {
    const int64_t c = l.channel_of(i);
    float x[kInputs], q[kParams];
#pragma unroll
    for (int k = 0; k < kInputs; ++k) x[k] = load(args.in[k], i);
#pragma unroll
    for (int k = 0; k < kParams; ++k) q[k] = args.params[k][c];
    store(args.out, i, op(x, q));
  }
}

// Up to this many threads per map (two waves of full SMs on a 132-SM GPU); beyond, they loop.
constexpr int64_t kMapThreads = 2 * 132 * 2048;

// Queues the map on `stream`: op(const float (&in)[kInputs], const float (&p)[kParams]) -> float.
template <class In, class Out, int kInputs, int kParams, class Op>
void launch_channel_map(const ChannelLayout& l, const std::array<const In*, kInputs>& inputs, Out* out,
                        const std::array<const float*, kParams>& params, cudaStream_t stream, Op op) {
  const int64_t n = l.numel();
  if (n == 0) return;
  ChannelMapArgs<In, Out, kInputs, kParams> args{};
  bool aligned = aligned16(out);
  for (int k = 0; k < kInputs; ++k) {
    args.in[k] = inputs[k];
    aligned = aligned && aligned16(inputs[k]);
  }
  args.out = out;
  for (int k = 0; k < kParams; ++k) args.params[k] = params[k];
  auto launch = [&](auto lanes) {
    constexpr int L = decltype(lanes)::value;
    const int64_t vectors = n / L;
    const int64_t period = l.channel_period() / std::gcd(l.channel_period(), int64_t{L});  // in vectors
    const int64_t stride = std::max(std::min(vectors, kMapThreads), period) / period * period;
    const int64_t blocks = (stride + kThreads - 1) / kThreads;
    channel_map_kernel<L><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(args, l, stride, op);
  };
  if (aligned) launch(std::integral_constant<int, kMapLanes<In, Out>>{});
  else launch(std::integral_constant<int, 1>{});
  CUDA_CHECK_LAUNCH();
}

}  // namespace convlab::backend_cuda
