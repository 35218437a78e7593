#include "framework/backend/conv_geometry.h"

#include <algorithm>

#include "framework/core/error.h"

namespace convlab {
namespace {

// One spatial axis: returns the output size and sets the paddings before and after.
int64_t resolve_axis(int64_t in, int64_t kernel, int64_t stride, Padding padding, int64_t pad,
                     int64_t& before, int64_t& after) {
  switch (padding) {
    case Padding::same: {
      const int64_t out = (in + stride - 1) / stride;
      const int64_t total = std::max<int64_t>((out - 1) * stride + kernel - in, 0);
      before = total / 2;
      after = total - before;
      return out;
    }
    case Padding::valid:
      before = after = 0;
      break;
    case Padding::explicit_:
      before = after = pad;
      break;
  }
  return (in + before + after - kernel) / stride + 1;
}

}  // namespace

ConvGeometry ConvGeometry::make(int64_t batch, int64_t in_channels, int64_t in_h, int64_t in_w,
                                int64_t out_channels, int64_t kernel_h, int64_t kernel_w,
                                int64_t stride, Padding padding, int64_t pad) {
  CONVLAB_CHECK(stride >= 1 && kernel_h >= 1 && kernel_w >= 1 && pad >= 0,
                "bad convolution: kernel {}x{}, stride {}, pad {}", kernel_h, kernel_w, stride, pad);
  ConvGeometry g;
  g.batch = batch;
  g.in_channels = in_channels;
  g.in_h = in_h;
  g.in_w = in_w;
  g.out_channels = out_channels;
  g.kernel_h = kernel_h;
  g.kernel_w = kernel_w;
  g.stride_h = g.stride_w = stride;
  g.out_h = resolve_axis(in_h, kernel_h, stride, padding, pad, g.pad_top, g.pad_bottom);
  g.out_w = resolve_axis(in_w, kernel_w, stride, padding, pad, g.pad_left, g.pad_right);
  CONVLAB_CHECK(g.out_h >= 1 && g.out_w >= 1, "convolution {} of a {}x{} input has no output",
                g.str(), in_h, in_w);
  return g;
}

std::string ConvGeometry::str() const {
  return fmt::format("conv {}x{}x{}x{} -> {} channels, kernel {}x{}, stride {}, pad t{} l{} b{} r{}, out {}x{}",
                     batch, in_channels, in_h, in_w, out_channels, kernel_h, kernel_w, stride_h,
                     pad_top, pad_left, pad_bottom, pad_right, out_h, out_w);
}

}  // namespace convlab
