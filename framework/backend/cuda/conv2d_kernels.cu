// Kernels around the cuDNN convolution: input padding and gradient cropping for the
// geometries cuDNN's symmetric padding cannot express, the bias, and the bias gradient
// (a deterministic per-channel sum, channel_reduce.cuh).
#include "framework/backend/cuda/channel_reduce.cuh"
#include "framework/backend/cuda/conv2d_kernels.h"
#include "framework/backend/cuda/cuda_ops.h"

namespace convlab::backend_cuda {
namespace {

// Index is uint32_t when every flat index of both tensors fits (the usual case: 64-bit
// division costs several times more), else int64_t.
template <class Index>
__global__ void pad_kernel(const float* x, Index h, Index w, Index top, Index left, Index padded_h, Index padded_w,
                           float* out, Index n) {
  const Index padded_plane = padded_h * padded_w;
  for (Index i = blockIdx.x * Index(blockDim.x) + threadIdx.x; i < n; i += Index(gridDim.x) * blockDim.x) {
    const Index image = i / padded_plane;
    const Index rest = i - image * padded_plane;
    const Index row = rest / padded_w, col = rest - row * padded_w;
    // Unsigned: a row above the image wraps around to a large value, so one compare checks both ends.
    const Index sy = row - top, sx = col - left;
    out[i] = row >= top && sy < h && col >= left && sx < w ? x[(image * h + sy) * w + sx] : 0.0f;
  }
}

template <class Index>
__global__ void crop_kernel(const float* padded, Index padded_h, Index padded_w, Index top, Index left, Index h,
                            Index w, float* out, Index n) {
  const Index plane = h * w;
  for (Index i = blockIdx.x * Index(blockDim.x) + threadIdx.x; i < n; i += Index(gridDim.x) * blockDim.x) {
    const Index image = i / plane;
    const Index rest = i - image * plane;
    const Index y = rest / w, x = rest - y * w;
    out[i] = padded[(image * padded_h + y + top) * padded_w + x + left];
  }
}

bool fits_32_bits(int64_t elements) { return elements < int64_t{UINT32_MAX} - 65535 * 8 * 256; }

__global__ void add_bias_kernel(float* y, const float* bias, int64_t channels, int64_t plane, int64_t n) {
  CONVLAB_FOR_EACH(i, n) y[i] += bias[(i / plane) % channels];
}

__global__ void bias_sums_kernel(const float* grad_y, ChannelLayout l, double* partials) {
  channel_partial_sums(l, [&](int64_t at, double& a, double&) { a += grad_y[at]; }, partials);
}

__global__ void bias_totals_kernel(ChannelLayout l, const double* partials, float* grad_bias) {
  const int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c >= l.channels) return;
  double total, unused;
  channel_totals(l, partials, c, total, unused);
  grad_bias[c] = static_cast<float>(total);
}

}  // namespace

void pad_images(const float* x, int64_t images, int64_t h, int64_t w, int64_t top, int64_t left, int64_t padded_h,
                int64_t padded_w, float* out, cudaStream_t stream) {
  const int64_t n = images * padded_h * padded_w;
  if (n == 0) return;
  if (fits_32_bits(n)) {
    using I = uint32_t;
    pad_kernel<I><<<blocks_for(n), kThreads, 0, stream>>>(x, I(h), I(w), I(top), I(left), I(padded_h), I(padded_w),
                                                           out, I(n));
  } else {
    pad_kernel<int64_t><<<blocks_for(n), kThreads, 0, stream>>>(x, h, w, top, left, padded_h, padded_w, out, n);
  }
  CUDA_CHECK_LAUNCH();
}

void crop_images(const float* padded, int64_t images, int64_t padded_h, int64_t padded_w, int64_t top, int64_t left,
                 int64_t h, int64_t w, float* out, cudaStream_t stream) {
  const int64_t n = images * h * w;
  if (n == 0) return;
  if (fits_32_bits(images * padded_h * padded_w)) {
    using I = uint32_t;
    crop_kernel<I><<<blocks_for(n), kThreads, 0, stream>>>(padded, I(padded_h), I(padded_w), I(top), I(left), I(h),
                                                            I(w), out, I(n));
  } else {
    crop_kernel<int64_t><<<blocks_for(n), kThreads, 0, stream>>>(padded, padded_h, padded_w, top, left, h, w, out, n);
  }
  CUDA_CHECK_LAUNCH();
}

void add_channel_bias(float* y, const float* bias, int64_t batch, int64_t channels, int64_t plane,
                      cudaStream_t stream) {
  const int64_t n = batch * channels * plane;
  if (n == 0) return;
  add_bias_kernel<<<blocks_for(n), kThreads, 0, stream>>>(y, bias, channels, plane, n);
  CUDA_CHECK_LAUNCH();
}

void conv2d_backward_bias(const Tensor& grad_y, Tensor& grad_bias) {
  const char* op = "conv2d_backward_bias";
  check_f32({&grad_y, &grad_bias}, op);
  const ChannelLayout l = channel_layout(grad_y, op);
  CONVLAB_CHECK(grad_bias.numel() == l.channels, "{}: {} for {}", op, grad_bias.describe(), grad_y.describe());
  const cudaStream_t stream = stream_of(grad_y);
  Tensor partials = channel_partials(l, grad_y.device());  // (K, slices, 2)
  bias_sums_kernel<<<channel_grid(l), kThreads, 0, stream>>>(grad_y.data<float>(), l, partials.data<double>());
  CUDA_CHECK_LAUNCH();
  bias_totals_kernel<<<channel_blocks(l), kThreads, 0, stream>>>(l, partials.data<double>(), grad_bias.data<float>());
  CUDA_CHECK_LAUNCH();
}

}  // namespace convlab::backend_cuda
