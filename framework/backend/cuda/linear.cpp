// CUDA fully connected layer: cuBLAS SGEMMs on the context's stream.
//
// cuBLAS is column-major; a row-major (r, c) matrix is the column-major (c, r) matrix of
// its transpose, so each product below is written for the transposes:
//   forward        y^T (out, N)   = w (out, in)    x^T (in, N)
//   backward data  gx^T (in, N)   = w^T (in, out)  gy^T (out, N)
//   backward w     gw^T (in, out) = x^T (in, N)    gy (N, out)
// Math: TF32 tensor cores when the context allows them (as for convolutions), else strict
// fp32. The bias and its gradient reuse the per-channel kernels of the convolution with a
// plane of one element: the gradient is a deterministic double sum over the batch.
#include <climits>

#include "framework/backend/cuda/conv2d_kernels.h"
#include "framework/backend/cuda/cuda_check.h"
#include "framework/backend/cuda/cuda_context.h"
#include "framework/backend/cuda/cuda_ops.h"
#include "framework/backend/cuda/kernel_launch.h"

namespace convlab::backend_cuda {
namespace {

// x (N, in), w (out, in), y (N, out), all f32 on one CUDA device, sizes within cuBLAS's int.
void check_shapes(const Tensor& x, const Tensor& w, const Tensor& y, const char* op) {
  check_f32({&x, &w, &y}, op);
  check_same_device({&x, &w, &y}, op);
  CONVLAB_CHECK(x.rank() == 2 && w.rank() == 2 && y.rank() == 2 && x.dim(1) == w.dim(1) && y.dim(0) == x.dim(0) &&
                    y.dim(1) == w.dim(0),
                "{}: x {}, w {}, y {} (want (N, in), (out, in), (N, out))", op, x.describe(), w.describe(),
                y.describe());
  for (const int64_t d : {x.dim(0), x.dim(1), w.dim(0)})
    CONVLAB_CHECK(d <= INT_MAX, "{}: a dimension of {} is beyond cuBLAS's int range", op, d);
}

// The handle of the operands' device, in the math mode the context asks for.
cublasHandle_t blas_for(const Tensor& t) {
  CudaContext& ctx = cuda_context(t.device());
  cublasHandle_t handle = ctx.cublas();
  CUBLAS_CHECK(cublasSetMathMode(handle, ctx.allow_tf32() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  return handle;
}

}  // namespace

void linear_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) {
  const char* op = "linear_forward";
  check_shapes(x, w, y, op);
  const int batch = static_cast<int>(x.dim(0)), in = static_cast<int>(x.dim(1)), out = static_cast<int>(w.dim(0));
  if (bias) {
    check_f32({bias, &x}, op);
    CONVLAB_CHECK(bias->shape() == Shape({w.dim(0)}) && bias->device() == x.device(), "{}: bias {} for {} outputs",
                  op, bias->describe(), out);
  }
  if (batch == 0) return;
  const float one = 1.0f, zero = 0.0f;
  CUBLAS_CHECK(cublasSgemm(blas_for(x), CUBLAS_OP_T, CUBLAS_OP_N, out, batch, in, &one, w.data<float>(), in,
                           x.data<float>(), in, &zero, y.data<float>(), out));
  if (bias) add_channel_bias(y, *bias, stream_of(x));  // (N, out): channels with a one-element plane
}

void linear_backward_data(const Tensor& w, const Tensor& grad_y, Tensor& grad_x) {
  check_shapes(grad_x, w, grad_y, "linear_backward_data");
  const int batch = static_cast<int>(grad_x.dim(0)), in = static_cast<int>(grad_x.dim(1));
  const int out = static_cast<int>(w.dim(0));
  if (batch == 0) return;
  const float one = 1.0f, zero = 0.0f;
  CUBLAS_CHECK(cublasSgemm(blas_for(w), CUBLAS_OP_N, CUBLAS_OP_N, in, batch, out, &one, w.data<float>(), in,
                           grad_y.data<float>(), out, &zero, grad_x.data<float>(), in));
}

void linear_backward_weight(const Tensor& x, const Tensor& grad_y, Tensor& grad_w) {
  check_shapes(x, grad_w, grad_y, "linear_backward_weight");
  const int batch = static_cast<int>(x.dim(0)), in = static_cast<int>(x.dim(1)), out = static_cast<int>(grad_w.dim(0));
  if (batch == 0) {
    fill(grad_w, 0.0);
    return;
  }
  const float one = 1.0f, zero = 0.0f;
  CUBLAS_CHECK(cublasSgemm(blas_for(x), CUBLAS_OP_N, CUBLAS_OP_T, in, out, batch, &one, x.data<float>(), in,
                           grad_y.data<float>(), out, &zero, grad_w.data<float>(), in));
}

void linear_backward_bias(const Tensor& grad_y, Tensor& grad_bias) {
  check_f32({&grad_y, &grad_bias}, "linear_backward_bias");
  CONVLAB_CHECK(grad_y.rank() == 2 && grad_bias.shape() == Shape({grad_y.dim(1)}),
                "linear_backward_bias: {} for {}", grad_bias.describe(), grad_y.describe());
  if (grad_y.dim(0) == 0) {
    fill(grad_bias, 0.0);
    return;
  }
  conv2d_backward_bias(grad_y, grad_bias);  // (N, out) is (N, C) with a one-element plane
}

}  // namespace convlab::backend_cuda
