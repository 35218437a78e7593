// Kernels around the cuDNN convolution: input padding and gradient cropping for the
// geometries cuDNN's symmetric padding cannot express, the bias, and the bias gradient
// (a deterministic per-channel sum, channel_reduce.cuh).
#include "framework/backend/cuda/channel_reduce.cuh"
#include "framework/backend/cuda/conv2d_kernels.h"
#include "framework/backend/cuda/cuda_ops.h"

namespace convlab::backend_cuda {
namespace {

__global__ void pad_kernel(const float* x, int64_t h, int64_t w, int64_t top, int64_t left, int64_t padded_h,
                           int64_t padded_w, float* out, int64_t n) {
  const int64_t padded_plane = padded_h * padded_w;
  CONVLAB_FOR_EACH(i, n) {
    const int64_t image = i / padded_plane;
    const int64_t rest = i - image * padded_plane;
    const int64_t sy = rest / padded_w - top, sx = rest % padded_w - left;
    out[i] = sy >= 0 && sy < h && sx >= 0 && sx < w ? x[(image * h + sy) * w + sx] : 0.0f;
  }
}

__global__ void crop_kernel(const float* padded, int64_t padded_h, int64_t padded_w, int64_t top, int64_t left,
                            int64_t h, int64_t w, float* out, int64_t n) {
  const int64_t plane = h * w;
  CONVLAB_FOR_EACH(i, n) {
    const int64_t image = i / plane;
    const int64_t rest = i - image * plane;
    const int64_t y = rest / w, x = rest % w;
    out[i] = padded[(image * padded_h + y + top) * padded_w + x + left];
  }
}

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
  pad_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, h, w, top, left, padded_h, padded_w, out, n);
  CUDA_CHECK_LAUNCH();
}

void crop_images(const float* padded, int64_t images, int64_t padded_h, int64_t padded_w, int64_t top, int64_t left,
                 int64_t h, int64_t w, float* out, cudaStream_t stream) {
  const int64_t n = images * h * w;
  if (n == 0) return;
  crop_kernel<<<blocks_for(n), kThreads, 0, stream>>>(padded, padded_h, padded_w, top, left, h, w, out, n);
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
