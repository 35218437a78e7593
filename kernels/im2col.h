// Index arithmetic of im2col: column (c, r, s) x (oy, ox) of one image reads input pixel
// (c, oy * stride - pad_top + r, ox * stride - pad_left + s), or a zero in the padding.
#pragma once

#include <cstdint>

#include "kernels/hd.h"

namespace convlab::kernels {

// The input coordinate that a kernel tap reads, or -1 if it falls in the padding.
CONVLAB_HD int64_t conv_source(int64_t out, int64_t tap, int64_t stride, int64_t pad_before, int64_t in_size) {
  const int64_t source = out * stride - pad_before + tap;
  return (source >= 0 && source < in_size) ? source : -1;
}

}  // namespace convlab::kernels
