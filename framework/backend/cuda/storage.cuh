// What CUDA kernels need to read and write either storage type, float or bf16, in float
// arithmetic (kernels/bf16.h rounds, the same code as on the CPU), and to move 16 bytes per
// access: 4 floats or 8 bf16 values.
#pragma once

#include <cstdint>

#include "framework/backend/cuda/kernel_launch.h"
#include "kernels/bf16.h"

namespace convlab::backend_cuda {

using kernels::Bf16;

__device__ __forceinline__ float load(const float* p, int64_t i) { return p[i]; }
__device__ __forceinline__ float load(const Bf16* p, int64_t i) { return kernels::to_float(p[i]); }
__device__ __forceinline__ void store(float* p, int64_t i, float v) { p[i] = v; }
__device__ __forceinline__ void store(Bf16* p, int64_t i, float v) { p[i] = kernels::to_bf16(v); }

// Values per 16-byte vector.
template <class S>
inline constexpr int kLanes = static_cast<int>(16 / sizeof(S));

// Vector v (elements [v L, v L + L)) as floats, and back.
__device__ __forceinline__ void load_vector(const float* p, int64_t v, float (&out)[4]) {
  const float4 q = reinterpret_cast<const float4*>(p)[v];
  out[0] = q.x, out[1] = q.y, out[2] = q.z, out[3] = q.w;
}
__device__ __forceinline__ void load_vector(const Bf16* p, int64_t v, float (&out)[8]) {
  const uint4 q = reinterpret_cast<const uint4*>(p)[v];
  const uint32_t words[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
  for (int k = 0; k < 4; ++k) {
    out[2 * k] = kernels::float_from_bits(words[k] << 16);               // the lower half comes first
    out[2 * k + 1] = kernels::float_from_bits(words[k] & 0xffff0000u);
  }
}
__device__ __forceinline__ void store_vector(float* p, int64_t v, const float (&in)[4]) {
  reinterpret_cast<float4*>(p)[v] = make_float4(in[0], in[1], in[2], in[3]);
}
__device__ __forceinline__ void store_vector(Bf16* p, int64_t v, const float (&in)[8]) {
  uint32_t words[4];
#pragma unroll
  for (int k = 0; k < 4; ++k)
    words[k] = static_cast<uint32_t>(kernels::to_bf16(in[2 * k]).bits) |
               (static_cast<uint32_t>(kernels::to_bf16(in[2 * k + 1]).bits) << 16);
  reinterpret_cast<uint4*>(p)[v] = make_uint4(words[0], words[1], words[2], words[3]);
}

inline bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace convlab::backend_cuda
