// Kernels around the cuDNN convolution: input padding and gradient cropping for the
// geometries cuDNN's symmetric padding cannot express, the bias (a per-channel map), and the
// bias gradient (a deterministic per-channel sum); both from channel_reduce.cuh.
#include "framework/backend/cuda/channel_reduce.cuh"
#include "framework/backend/cuda/conv2d_kernels.h"
#include "framework/backend/cuda/cuda_ops.h"
#include "framework/backend/cuda/storage.cuh"

namespace convlab::backend_cuda {
namespace {

// Both formats at once: an image is a (rows, cols) grid of pixels of `depth` elements each:
// N C images of depth 1 contiguous, N images of depth C channels_last. Index is uint32_t
// when every flat index fits (64-bit division costs several times more), else int64_t.
template <class S, class Index>
__global__ void pad_kernel(const S* x, Index h, Index w, Index depth, Index top, Index left, Index padded_h,
                           Index padded_w, S* out, Index n) {
  for (Index i = blockIdx.x * Index(blockDim.x) + threadIdx.x; i < n; i += Index(gridDim.x) * blockDim.x) {
    const Index d = i % depth, pixel = i / depth;
    const Index col = pixel % padded_w, rest = pixel / padded_w;
    const Index row = rest % padded_h, image = rest / padded_h;
    // Unsigned: a row above the image wraps around to a large value, so one compare checks both ends.
    const Index sy = row - top, sx = col - left;
    if (row >= top && sy < h && col >= left && sx < w)
      out[i] = x[((image * h + sy) * w + sx) * depth + d];
    else
      store(out, i, 0.0f);
  }
}

template <class S, class Index>
__global__ void crop_kernel(const S* padded, Index padded_h, Index padded_w, Index depth, Index top, Index left,
                            Index h, Index w, S* out, Index n) {
  for (Index i = blockIdx.x * Index(blockDim.x) + threadIdx.x; i < n; i += Index(gridDim.x) * blockDim.x) {
    const Index d = i % depth, pixel = i / depth;
    const Index x = pixel % w, rest = pixel / w;
    const Index y = rest % h, image = rest / h;
    out[i] = padded[((image * padded_h + y + top) * padded_w + x + left) * depth + d];
  }
}

bool fits_32_bits(int64_t elements) { return elements < int64_t{UINT32_MAX} - 65535 * 8 * 256; }

// y = conv + bias[k], in float, rounded once into y's storage (the CPU adds the bias to the
// fp32 products and rounds the sum once).
struct AddBias {
  __device__ float operator()(const float (&x)[1], const float (&bias)[1]) const { return x[0] + bias[0]; }
};

template <class S>
__global__ void __launch_bounds__(kThreads) bias_sums_kernel(const S* grad_y, ChannelLayout l, double* partials) {
  channel_partial_sums(
      l, [&](int64_t) { return [=](int64_t at, double& a, double&) { a += load(grad_y, at); }; }, partials);
}

__global__ void __launch_bounds__(kThreads)
    bias_totals_kernel(ChannelLayout l, const double* partials, float* grad_bias) {
  channel_totals(l, partials, [&](int64_t c, double total, double) { grad_bias[c] = static_cast<float>(total); });
}

// (images, rows, cols, depth) of a 4-D tensor in its format.
struct Grid {
  int64_t images, rows, cols, depth;
};
Grid grid_of(const Tensor& t) {
  return t.channels_last() ? Grid{t.dim(0), t.dim(2), t.dim(3), t.dim(1)}
                           : Grid{t.dim(0) * t.dim(1), t.dim(2), t.dim(3), 1};
}

}  // namespace

void pad_images(const Tensor& x, int64_t top, int64_t left, Tensor& padded, cudaStream_t stream) {
  check_storage({&x, &padded}, "pad_images");
  CONVLAB_CHECK(x.dtype() == padded.dtype() && x.format() == padded.format() && x.rank() == 4 &&
                    padded.rank() == 4 && x.dim(0) == padded.dim(0) && x.dim(1) == padded.dim(1),
                "pad_images: {} into {}", x.describe(), padded.describe());
  const Grid in = grid_of(x), out = grid_of(padded);
  const int64_t n = padded.numel();
  if (n == 0) return;
  dispatch_storage(x, "pad_images", [&](auto tag) {
    using S = decltype(tag);
    if (fits_32_bits(n)) {
      using I = uint32_t;
      pad_kernel<S, I><<<blocks_for(n), kThreads, 0, stream>>>(x.data<S>(), I(in.rows), I(in.cols), I(in.depth),
                                                                I(top), I(left), I(out.rows), I(out.cols),
                                                                padded.data<S>(), I(n));
    } else {
      pad_kernel<S, int64_t><<<blocks_for(n), kThreads, 0, stream>>>(x.data<S>(), in.rows, in.cols, in.depth, top,
                                                                      left, out.rows, out.cols, padded.data<S>(), n);
    }
  });
  CUDA_CHECK_LAUNCH();
}

void crop_images(const Tensor& padded, int64_t top, int64_t left, Tensor& out, cudaStream_t stream) {
  check_storage({&padded, &out}, "crop_images");
  CONVLAB_CHECK(out.dtype() == padded.dtype() && out.format() == padded.format() && out.rank() == 4 &&
                    padded.rank() == 4 && out.dim(0) == padded.dim(0) && out.dim(1) == padded.dim(1),
                "crop_images: {} into {}", padded.describe(), out.describe());
  const Grid src = grid_of(padded), dst = grid_of(out);
  const int64_t n = out.numel();
  if (n == 0) return;
  dispatch_storage(out, "crop_images", [&](auto tag) {
    using S = decltype(tag);
    if (fits_32_bits(padded.numel())) {
      using I = uint32_t;
      crop_kernel<S, I><<<blocks_for(n), kThreads, 0, stream>>>(padded.data<S>(), I(src.rows), I(src.cols),
                                                                 I(src.depth), I(top), I(left), I(dst.rows),
                                                                 I(dst.cols), out.data<S>(), I(n));
    } else {
      crop_kernel<S, int64_t><<<blocks_for(n), kThreads, 0, stream>>>(padded.data<S>(), src.rows, src.cols, src.depth,
                                                                       top, left, dst.rows, dst.cols, out.data<S>(), n);
    }
  });
  CUDA_CHECK_LAUNCH();
}

void add_channel_bias(Tensor& y, const Tensor& bias, cudaStream_t stream) {
  const char* op = "add_channel_bias";
  check_storage({&y}, op);
  check_f32({&bias}, op);
  const int64_t n = y.numel();
  if (n == 0) return;
  const ChannelLayout l = channel_layout(y, op);
  CONVLAB_CHECK(bias.numel() == l.channels, "{}: bias {} for {}", op, bias.describe(), y.describe());
  dispatch_storage(y, op, [&](auto tag) {
    using S = decltype(tag);
    launch_channel_map<S, S, 1, 1>(l, {y.data<S>()}, y.data<S>(), {bias.data<float>()}, stream, AddBias{});
  });
}

void add_channel_bias_into(const Tensor& conv, const Tensor& bias, Tensor& y, cudaStream_t stream) {
  const char* op = "add_channel_bias_into";
  check_f32({&conv, &bias}, op);
  check_storage({&y}, op);
  CONVLAB_CHECK(conv.rank() == 4 && conv.shape() == y.shape() && conv.format() == y.format(),
                "{}: the convolution {} and the output {} need the same (N, K, OH, OW) shape and memory format", op,
                conv.describe(), y.describe());
  CONVLAB_CHECK(bias.rank() == 1 && bias.numel() == conv.dim(1), "{}: bias {} for {} output channels", op,
                bias.describe(), conv.dim(1));
  CONVLAB_CHECK(conv.device() == y.device() && bias.device() == y.device(), "{}: {}, {} and {} on different devices",
                op, conv.describe(), bias.describe(), y.describe());
  if (y.numel() == 0) return;
  const ChannelLayout l = channel_layout(y, op);
  dispatch_storage(y, op, [&](auto tag) {
    using S = decltype(tag);
    launch_channel_map<float, S, 1, 1>(l, {conv.data<float>()}, y.data<S>(), {bias.data<float>()}, stream,
                                       AddBias{});
  });
}

void conv2d_backward_bias(const Tensor& grad_y, Tensor& grad_bias) {
  const char* op = "conv2d_backward_bias";
  check_storage({&grad_y}, op);
  check_f32({&grad_bias}, op);
  CONVLAB_CHECK(grad_y.rank() >= 2 && grad_bias.numel() == grad_y.dim(1), "{}: {} for {}", op,
                grad_bias.describe(), grad_y.describe());
  const cudaStream_t stream = stream_of(grad_y);
  if (grad_y.numel() == 0) {  // an empty batch: every channel's sum is 0, as on the CPU
    if (grad_bias.numel() > 0)
      CUDA_CHECK(cudaMemsetAsync(grad_bias.data<float>(), 0, grad_bias.nbytes(), stream));
    return;
  }
  const ChannelLayout l = channel_layout(grad_y, op);
  Tensor partials = channel_partials(l, grad_y.device());  // (2, slices, K)
  dispatch_storage(grad_y, op, [&](auto tag) {
    using S = decltype(tag);
    bias_sums_kernel<<<channel_grid(l, op), kThreads, 0, stream>>>(grad_y.data<S>(), l, partials.data<double>());
  });
  CUDA_CHECK_LAUNCH();
  bias_totals_kernel<<<totals_blocks(l), kThreads, 0, stream>>>(l, partials.data<double>(), grad_bias.data<float>());
  CUDA_CHECK_LAUNCH();
}

}  // namespace convlab::backend_cuda
