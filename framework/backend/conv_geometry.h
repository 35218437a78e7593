// The shape arithmetic of one 2-D convolution, resolved once so that every backend sees
// the same explicit paddings.
#pragma once

#include <cstdint>
#include <string>

namespace convlab {

enum class Padding { same, valid, explicit_ };

struct ConvGeometry {
  int64_t batch = 0, in_channels = 0, in_h = 0, in_w = 0;  // x: (N, C, H, W)
  int64_t out_channels = 0, kernel_h = 0, kernel_w = 0;    // w: (K, C, R, S)
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int64_t out_h = 0, out_w = 0;                             // y: (N, K, OH, OW)

  // SAME as XLA computes it: out = ceil(in / stride), total padding
  // max((out - 1) * stride + kernel - in, 0), the smaller half before, the larger after.
  // VALID: no padding. explicit_: `pad` on every side.
  static ConvGeometry make(int64_t batch, int64_t in_channels, int64_t in_h, int64_t in_w,
                           int64_t out_channels, int64_t kernel_h, int64_t kernel_w,
                           int64_t stride, Padding padding, int64_t pad = 0);
  std::string str() const;
};

}  // namespace convlab
