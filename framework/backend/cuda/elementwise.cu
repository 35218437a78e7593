// CUDA elementwise kernels: the per-element math comes from kernels/, shared with the CPU.
// Built with --fmad=false, so a * b + c rounds twice as on the CPU and results match bitwise.
#include "framework/backend/cuda/cuda_ops.h"
#include "framework/backend/cuda/kernel_launch.h"
#include "kernels/activation.h"

namespace convlab::backend_cuda {
namespace {

template <class T>
__global__ void fill_kernel(T* out, int64_t n, T value) {
  CONVLAB_FOR_EACH(i, n) out[i] = value;
}

__global__ void add_kernel(const float* a, const float* b, float* out, int64_t n) {
  CONVLAB_FOR_EACH(i, n) out[i] = a[i] + b[i];
}

__global__ void mul_kernel(const float* a, const float* b, float* out, int64_t n) {
  CONVLAB_FOR_EACH(i, n) out[i] = a[i] * b[i];
}

// The scale lives on the device (a loss gradient, say): read it here, not on the host.
__global__ void scale_by_kernel(const float* x, const float* s, float alpha, float* out, int64_t n) {
  const float factor = alpha * s[0];
  CONVLAB_FOR_EACH(i, n) out[i] = factor * x[i];
}

__global__ void axpy_kernel(float alpha, const float* x, float* y, int64_t n) {
  CONVLAB_FOR_EACH(i, n) y[i] += alpha * x[i];
}

__global__ void relu_forward_kernel(const float* x, float* y, int64_t n) {
  CONVLAB_FOR_EACH(i, n) y[i] = kernels::relu(x[i]);
}

__global__ void relu_backward_kernel(const float* y, const float* grad_y, float* grad_x, int64_t n) {
  CONVLAB_FOR_EACH(i, n) grad_x[i] = kernels::relu_grad(y[i], grad_y[i]);
}

__global__ void dropout_kernel(const float* x, double p, RandomKey unresolved_key, float* y, int64_t n) {
  const RandomKey key = kernels::resolved(unresolved_key);  // the step may live in device memory
  CONVLAB_FOR_EACH(i, n) y[i] = x[i] * kernels::dropout_factor<float>(key, i, p);
}

}  // namespace

void fill(Tensor& t, double value) {
  CONVLAB_CHECK(t.device().is_cuda(), "fill: expected a CUDA tensor, got {}", t.describe());
  const int64_t n = t.numel();
  if (n == 0) return;
  const cudaStream_t stream = stream_of(t);
  switch (t.dtype()) {
    case DType::f32: fill_kernel<<<blocks_for(n), kThreads, 0, stream>>>(t.data<float>(), n, float(value)); break;
    case DType::i32: fill_kernel<<<blocks_for(n), kThreads, 0, stream>>>(t.data<int32_t>(), n, int32_t(value)); break;
    case DType::u8: fill_kernel<<<blocks_for(n), kThreads, 0, stream>>>(t.data<uint8_t>(), n, uint8_t(value)); break;
    default: CONVLAB_FAIL("fill: the CUDA backend has no {}", dtype_name(t.dtype()));
  }
  CUDA_CHECK_LAUNCH();
}

void add(const Tensor& a, const Tensor& b, Tensor& out) {
  check_f32({&a, &b, &out}, "add");
  check_same_shape(a, b, "add");
  check_same_shape(a, out, "add");
  const int64_t n = a.numel();
  if (n == 0) return;
  add_kernel<<<blocks_for(n), kThreads, 0, stream_of(a)>>>(a.data<float>(), b.data<float>(), out.data<float>(), n);
  CUDA_CHECK_LAUNCH();
}

void axpy(double alpha, const Tensor& x, Tensor& y) {
  check_f32({&x, &y}, "axpy");
  check_same_shape(x, y, "axpy");
  const int64_t n = x.numel();
  if (n == 0) return;
  axpy_kernel<<<blocks_for(n), kThreads, 0, stream_of(x)>>>(float(alpha), x.data<float>(), y.data<float>(), n);
  CUDA_CHECK_LAUNCH();
}

void mul(const Tensor& a, const Tensor& b, Tensor& out) {
  check_f32({&a, &b, &out}, "mul");
  check_same_shape(a, b, "mul");
  check_same_shape(a, out, "mul");
  const int64_t n = a.numel();
  if (n == 0) return;
  mul_kernel<<<blocks_for(n), kThreads, 0, stream_of(a)>>>(a.data<float>(), b.data<float>(), out.data<float>(), n);
  CUDA_CHECK_LAUNCH();
}

void scale_by(const Tensor& x, const Tensor& s, double alpha, Tensor& out) {
  check_f32({&x, &s, &out}, "scale_by");
  check_same_shape(x, out, "scale_by");
  CONVLAB_CHECK(s.numel() == 1, "scale_by: the scale {} must be one element", s.describe());
  const int64_t n = x.numel();
  if (n == 0) return;
  scale_by_kernel<<<blocks_for(n), kThreads, 0, stream_of(x)>>>(x.data<float>(), s.data<float>(), float(alpha),
                                                                out.data<float>(), n);
  CUDA_CHECK_LAUNCH();
}

void relu_forward(const Tensor& x, Tensor& y) {
  check_f32({&x, &y}, "relu_forward");
  check_same_shape(x, y, "relu_forward");
  const int64_t n = x.numel();
  if (n == 0) return;
  relu_forward_kernel<<<blocks_for(n), kThreads, 0, stream_of(x)>>>(x.data<float>(), y.data<float>(), n);
  CUDA_CHECK_LAUNCH();
}

void relu_backward(const Tensor& y, const Tensor& grad_y, Tensor& grad_x) {
  check_f32({&y, &grad_y, &grad_x}, "relu_backward");
  check_same_shape(y, grad_y, "relu_backward");
  check_same_shape(y, grad_x, "relu_backward");
  const int64_t n = y.numel();
  if (n == 0) return;
  relu_backward_kernel<<<blocks_for(n), kThreads, 0, stream_of(y)>>>(y.data<float>(), grad_y.data<float>(),
                                                                     grad_x.data<float>(), n);
  CUDA_CHECK_LAUNCH();
}

void dropout_forward(const Tensor& x, double p, RandomKey key, Tensor& y) {
  check_f32({&x, &y}, "dropout_forward");
  check_same_shape(x, y, "dropout_forward");
  const int64_t n = x.numel();
  if (n == 0) return;
  dropout_kernel<<<blocks_for(n), kThreads, 0, stream_of(x)>>>(x.data<float>(), p, key, y.data<float>(), n);
  CUDA_CHECK_LAUNCH();
}

void dropout_backward(const Tensor& grad_y, double p, RandomKey key, Tensor& grad_x) {
  dropout_forward(grad_y, p, key, grad_x);  // the same mask and scale
}

}  // namespace convlab::backend_cuda
