// One kernel shape for the element-wise ops: out[i] = op(i, in_0[i], ..., in_{k-1}[i]) over n
// elements of storage S, computed in float. With every pointer 16-byte aligned (convlab's
// device blocks are 512-byte aligned, so in practice always), each thread moves whole 16-byte
// vectors -- 4 floats or 8 bf16 values per load and store -- and the last n mod L elements
// are done one by one; otherwise everything goes one by one. `out` may be one of the inputs.
#pragma once

#include <array>

#include "framework/backend/cuda/storage.cuh"

namespace convlab::backend_cuda {

template <class S, int kInputs>
struct MapPointers {
  const S* in[kInputs > 0 ? kInputs : 1];
  S* out;
};

template <bool kVector, class S, int kInputs, class Op>
__global__ void map_kernel(MapPointers<S, kInputs> p, int64_t n, Op op) {
  constexpr int L = kVector ? kLanes<S> : 1;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t first = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  int64_t done = 0;
  if constexpr (kVector) {
    const int64_t vectors = n / L;
    for (int64_t v = first; v < vectors; v += stride) {
      float in[kInputs > 0 ? kInputs : 1][L];
#pragma unroll
      for (int k = 0; k < kInputs; ++k) load_vector(p.in[k], v, in[k]);
      float out[L];
#pragma unroll
      for (int lane = 0; lane < L; ++lane) {
        float args[kInputs > 0 ? kInputs : 1];
#pragma unroll
        for (int k = 0; k < kInputs; ++k) args[k] = in[k][lane];
        out[lane] = op(v * L + lane, args);
      }
      store_vector(p.out, v, out);
    }
    done = vectors * L;
  }
  for (int64_t i = done + first; i < n; i += stride) {
    float args[kInputs > 0 ? kInputs : 1];
#pragma unroll
    for (int k = 0; k < kInputs; ++k) args[k] = load(p.in[k], i);
    store(p.out, i, op(i, args));
  }
}

// Launches the map on `stream`: vectorised when every pointer allows it.
template <class S, int kInputs, class Op>
void launch_map(const std::array<const S*, kInputs>& inputs, S* out, int64_t n, cudaStream_t stream, Op op) {
  if (n == 0) return;
  MapPointers<S, kInputs> p{};
  bool aligned = aligned16(out);
  for (int k = 0; k < kInputs; ++k) {
    p.in[k] = inputs[k];
    aligned = aligned && aligned16(inputs[k]);
  }
  p.out = out;
  if (aligned) {
    map_kernel<true, S, kInputs><<<blocks_for((n + kLanes<S> - 1) / kLanes<S>), kThreads, 0, stream>>>(p, n, op);
  } else {
    map_kernel<false, S, kInputs><<<blocks_for(n), kThreads, 0, stream>>>(p, n, op);
  }
  CUDA_CHECK_LAUNCH();
}

}  // namespace convlab::backend_cuda
