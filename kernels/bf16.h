// bfloat16: the upper half of an IEEE float (8 exponent bits, 7 mantissa bits). Rounding a
// float to bf16 is round-to-nearest-even on the bits, the rule the GPU's conversion
// instructions and cuDNN's outputs follow; NaN stays a (quiet) NaN of the same sign.
// Both backends call these, so a bf16 value has the same bits on every device.
#pragma once

#include <stdint.h>
#include <string.h>

#include "kernels/hd.h"

namespace convlab::kernels {

// The storage of one bf16 value (what a bf16 tensor holds; 2 bytes, like __nv_bfloat16).
struct Bf16 {
  uint16_t bits;
};

CONVLAB_HD uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
#endif
}

CONVLAB_HD float float_from_bits(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
#endif
}

CONVLAB_HD Bf16 to_bf16(float f) {
  uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return Bf16{static_cast<uint16_t>((u >> 16) | 0x0040u)};  // NaN
  u += 0x7fffu + ((u >> 16) & 1u);  // ties go to the even upper half; overflow carries into the exponent
  return Bf16{static_cast<uint16_t>(u >> 16)};
}

CONVLAB_HD float to_float(Bf16 h) { return float_from_bits(static_cast<uint32_t>(h.bits) << 16); }

// The float that a bf16 store of f keeps: to_float(to_bf16(f)).
CONVLAB_HD float round_to_bf16(float f) { return to_float(to_bf16(f)); }

}  // namespace convlab::kernels
