// CUDA element-wise kernels for f32 and bf16 storage (elementwise_map.cuh: 16-byte vector
// accesses, float arithmetic): the per-element math comes from kernels/, shared with the CPU.
// Built with --fmad=false, so a * b + c rounds twice as on the CPU and results match bitwise.
#include <array>
#include <type_traits>

#include "framework/backend/cuda/cuda_ops.h"
#include "framework/backend/cuda/elementwise_map.cuh"
#include "framework/backend/cuda/kernel_launch.h"
#include "kernels/activation.h"

namespace convlab::backend_cuda {
namespace {

template <class T>
__global__ void fill_kernel(T* out, int64_t n, T value) {
  CONVLAB_FOR_EACH(i, n) out[i] = value;
}

struct Constant {
  float value;
  __device__ float operator()(int64_t, const float (&)[1]) const { return value; }
};
struct Add {
  __device__ float operator()(int64_t, const float (&v)[2]) const { return v[0] + v[1]; }
};
struct Mul {
  __device__ float operator()(int64_t, const float (&v)[2]) const { return v[0] * v[1]; }
};
struct Axpy {  // inputs x, y
  float alpha;
  __device__ float operator()(int64_t, const float (&v)[2]) const { return v[1] + alpha * v[0]; }
};
// The scale lives on the device (a loss gradient, say): read it here, not on the host. Its
// storage (f32 or bf16) is its own. alpha * s * x in this order, as the CPU computes it.
template <class Scale>
struct ScaleBy {
  const Scale* s;
  float alpha;
  __device__ float operator()(int64_t, const float (&v)[1]) const { return alpha * load(s, 0) * v[0]; }
};
struct Relu {
  __device__ float operator()(int64_t, const float (&v)[1]) const { return kernels::relu(v[0]); }
};
struct ReluGrad {  // inputs y, grad_y
  __device__ float operator()(int64_t, const float (&v)[2]) const { return kernels::relu_grad(v[0], v[1]); }
};
struct Dropout {  // the key's step may live in device memory: resolved per element, from the cache
  RandomKey key;
  double p;
  __device__ float operator()(int64_t i, const float (&v)[1]) const {
    return v[0] * kernels::dropout_factor<float>(kernels::resolved(key), static_cast<uint64_t>(i), p);
  }
};

// A one-input map from one storage into the other (scale_by from bf16 into f32, say): one
// element per thread, the same per-element op as launch_map's.
template <class Src, class Dst, class Op>
__global__ void map_between_kernel(const Src* x, Dst* y, int64_t n, Op op) {
  CONVLAB_FOR_EACH(i, n) {
    const float v[1] = {load(x, i)};
    store(y, i, op(i, v));
  }
}

// Same format: element i to element i. Index math in 32 bits when it fits.
template <class Src, class Dst>
__global__ void convert_kernel(const Src* x, Dst* y, int64_t n) {
  CONVLAB_FOR_EACH(i, n) store(y, i, load(x, i));
}

// Between formats, one thread per output element: (N, C, H, W) <-> (N, H, W, C).
template <class Src, class Dst, class Index>
__global__ void transpose_kernel(const Src* x, Dst* y, Index channels, Index plane, Index n, bool to_channels_last) {
  for (Index i = blockIdx.x * Index(blockDim.x) + threadIdx.x; i < n; i += Index(gridDim.x) * blockDim.x) {
    Index source;
    if (to_channels_last) {  // y (N, plane, C) from x (N, C, plane)
      const Index c = i % channels, rest = i / channels, p = rest % plane, image = rest / plane;
      source = (image * channels + c) * plane + p;
    } else {  // y (N, C, plane) from x (N, plane, C)
      const Index p = i % plane, rest = i / plane, c = rest % channels, image = rest / channels;
      source = (image * plane + p) * channels + c;
    }
    store(y, i, load(x, source));
  }
}

template <class S>
const S* in(const Tensor& t) {
  return t.data<S>();
}
template <class S>
S* out(Tensor& t) {
  return t.data<S>();
}

}  // namespace

void fill(Tensor& t, double value) {
  CONVLAB_CHECK(t.device().is_cuda(), "fill: expected a CUDA tensor, got {}", t.describe());
  const int64_t n = t.numel();
  if (n == 0) return;
  const cudaStream_t stream = stream_of(t);
  switch (t.dtype()) {
    case DType::f32: launch_map<float, 0>({}, t.data<float>(), n, stream, Constant{float(value)}); return;
    case DType::bf16: launch_map<Bf16, 0>({}, t.data<Bf16>(), n, stream, Constant{float(value)}); return;
    case DType::i32: fill_kernel<<<blocks_for(n), kThreads, 0, stream>>>(t.data<int32_t>(), n, int32_t(value)); break;
    case DType::u8: fill_kernel<<<blocks_for(n), kThreads, 0, stream>>>(t.data<uint8_t>(), n, uint8_t(value)); break;
    default: CONVLAB_FAIL("fill: the CUDA backend has no {}", dtype_name(t.dtype()));
  }
  CUDA_CHECK_LAUNCH();
}

void convert(const Tensor& x, Tensor& y) {
  const char* op = "convert";
  check_storage({&x, &y}, op);
  CONVLAB_CHECK(x.shape() == y.shape() && x.device() == y.device(), "{}: {} into {}", op, x.describe(), y.describe());
  const int64_t n = x.numel();
  if (n == 0) return;
  const cudaStream_t stream = stream_of(x);
  dispatch_storage(x, op, [&](auto src_tag) {
    using Src = decltype(src_tag);
    dispatch_storage(y, op, [&](auto dst_tag) {
      using Dst = decltype(dst_tag);
      if (x.format() == y.format()) {
        convert_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x.data<Src>(), y.data<Dst>(), n);
      } else {
        const int64_t channels = x.dim(1), plane = x.dim(2) * x.dim(3);  // 4-D: channels_last exists only there
        const bool to_last = y.channels_last();
        if (n < int64_t{UINT32_MAX} - 65535 * 8 * 256) {
          transpose_kernel<Src, Dst, uint32_t><<<blocks_for(n), kThreads, 0, stream>>>(
              x.data<Src>(), y.data<Dst>(), uint32_t(channels), uint32_t(plane), uint32_t(n), to_last);
        } else {
          transpose_kernel<Src, Dst, int64_t><<<blocks_for(n), kThreads, 0, stream>>>(x.data<Src>(), y.data<Dst>(),
                                                                                      channels, plane, n, to_last);
        }
      }
      CUDA_CHECK_LAUNCH();
    });
  });
}

void add(const Tensor& a, const Tensor& b, Tensor& out_) {
  check_storage({&a, &b, &out_}, "add");
  check_same_shape(a, b, "add");
  check_same_shape(a, out_, "add");
  dispatch_storage(a, "add", [&](auto tag) {
    using S = decltype(tag);
    launch_map<S, 2>({in<S>(a), in<S>(b)}, out<S>(out_), a.numel(), stream_of(a), Add{});
  });
}

void axpy(double alpha, const Tensor& x, Tensor& y) {
  check_storage({&x, &y}, "axpy");
  check_same_shape(x, y, "axpy");
  dispatch_storage(x, "axpy", [&](auto tag) {
    using S = decltype(tag);
    launch_map<S, 2>({in<S>(x), in<S>(y)}, out<S>(y), x.numel(), stream_of(x), Axpy{float(alpha)});
  });
}

void mul(const Tensor& a, const Tensor& b, Tensor& out_) {
  check_storage({&a, &b, &out_}, "mul");
  check_same_shape(a, b, "mul");
  check_same_shape(a, out_, "mul");
  dispatch_storage(a, "mul", [&](auto tag) {
    using S = decltype(tag);
    launch_map<S, 2>({in<S>(a), in<S>(b)}, out<S>(out_), a.numel(), stream_of(a), Mul{});
  });
}

// x, s and out each f32 or bf16, as the CPU takes them (it reads bf16 operands into f32
// copies): x and out share their shape and format, not necessarily their storage.
void scale_by(const Tensor& x, const Tensor& s, double alpha, Tensor& out_) {
  const char* op = "scale_by";
  check_storage({&x, &s, &out_}, op);
  CONVLAB_CHECK(x.shape() == out_.shape() && x.format() == out_.format(), "{}: {} and {} differ", op, x.describe(),
                out_.describe());
  CONVLAB_CHECK(s.numel() == 1, "{}: the scale {} must be one element", op, s.describe());
  const int64_t n = x.numel();
  const cudaStream_t stream = stream_of(x);
  dispatch_storage(s, op, [&](auto scale_tag) {
    using Scale = decltype(scale_tag);
    const ScaleBy<Scale> scale{s.data<Scale>(), float(alpha)};
    dispatch_storage(x, op, [&](auto src_tag) {
      using Src = decltype(src_tag);
      dispatch_storage(out_, op, [&](auto dst_tag) {
        using Dst = decltype(dst_tag);
        if constexpr (std::is_same_v<Src, Dst>) {
          launch_map<Src, 1>({in<Src>(x)}, out<Src>(out_), n, stream, scale);
        } else if (n > 0) {
          map_between_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x.data<Src>(), out_.data<Dst>(), n, scale);
          CUDA_CHECK_LAUNCH();
        }
      });
    });
  });
}

void relu_forward(const Tensor& x, Tensor& y) {
  check_storage({&x, &y}, "relu_forward");
  check_same_shape(x, y, "relu_forward");
  dispatch_storage(x, "relu_forward", [&](auto tag) {
    using S = decltype(tag);
    launch_map<S, 1>({in<S>(x)}, out<S>(y), x.numel(), stream_of(x), Relu{});
  });
}

void relu_backward(const Tensor& y, const Tensor& grad_y, Tensor& grad_x) {
  check_storage({&y, &grad_y, &grad_x}, "relu_backward");
  check_same_shape(y, grad_y, "relu_backward");
  check_same_shape(y, grad_x, "relu_backward");
  dispatch_storage(y, "relu_backward", [&](auto tag) {
    using S = decltype(tag);
    launch_map<S, 2>({in<S>(y), in<S>(grad_y)}, out<S>(grad_x), y.numel(), stream_of(y), ReluGrad{});
  });
}

void dropout_forward(const Tensor& x, double p, RandomKey key, Tensor& y) {
  check_storage({&x, &y}, "dropout_forward");
  check_same_shape(x, y, "dropout_forward");
  dispatch_storage(x, "dropout_forward", [&](auto tag) {
    using S = decltype(tag);
    launch_map<S, 1>({in<S>(x)}, out<S>(y), x.numel(), stream_of(x), Dropout{key, p});
  });
}

void dropout_backward(const Tensor& grad_y, double p, RandomKey key, Tensor& grad_x) {
  dropout_forward(grad_y, p, key, grad_x);  // the same mask and scale
}

}  // namespace convlab::backend_cuda
