// CPU fully connected layer: one BLAS GEMM per call (multithreaded by OpenBLAS); the bias
// and its gradient are summed in double in a fixed order, so results repeat bitwise.
#include <cblas.h>

#include <algorithm>

#include "framework/backend/cpu/cpu_common.h"
#include "framework/backend/cpu/cpu_ops.h"

namespace convlab::backend_cpu {
namespace {

// C (m, n) = A (m, k) B (k, n), row-major; op(A), op(B) transposed when asked.
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, const float* b, float* c) {
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k, 1.0f,
              a, trans_a ? m : k, b, trans_b ? k : n, 0.0f, c, n);
}
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const double* a, const double* b, double* c) {
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k, 1.0,
              a, trans_a ? m : k, b, trans_b ? k : n, 0.0, c, n);
}

// x (N, in), w (out, in), y (N, out): the shapes every linear slot checks.
void check_shapes(const Tensor& x, const Tensor& w, const Tensor& y, const char* op) {
  CONVLAB_CHECK(x.rank() == 2 && w.rank() == 2 && y.rank() == 2 && x.dim(1) == w.dim(1) && y.dim(0) == x.dim(0) &&
                    y.dim(1) == w.dim(0) && x.dtype() == w.dtype() && x.dtype() == y.dtype(),
                "{}: x {}, w {}, y {} (want (N, in), (out, in), (N, out) of one dtype)", op, x.describe(),
                w.describe(), y.describe());
}

}  // namespace

void linear_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) {
  check_shapes(x, w, y, "linear_forward");
  const int64_t batch = x.dim(0), in = x.dim(1), out = w.dim(0);
  if (bias)
    CONVLAB_CHECK(bias->shape() == Shape({out}) && bias->dtype() == x.dtype(), "linear_forward: bias {} for {} outputs",
                  bias->describe(), out);
  dispatch_floating(x.dtype(), "linear_forward", [&]<class T>(T) {
    T* py = y.host<T>();
    if (batch == 0) return;
    gemm(false, true, batch, out, in, x.host<T>(), w.host<T>(), py);  // y = x w^T
    if (!bias) return;
    const T* b = bias->host<T>();
    for (int64_t n = 0; n < batch; ++n)
      for (int64_t j = 0; j < out; ++j) py[n * out + j] += b[j];
  });
}

void linear_backward_data(const Tensor& w, const Tensor& grad_y, Tensor& grad_x) {
  check_shapes(grad_x, w, grad_y, "linear_backward_data");
  const int64_t batch = grad_x.dim(0), in = grad_x.dim(1), out = w.dim(0);
  dispatch_floating(w.dtype(), "linear_backward_data", [&]<class T>(T) {
    if (batch > 0) gemm(false, false, batch, in, out, grad_y.host<T>(), w.host<T>(), grad_x.host<T>());
  });
}

void linear_backward_weight(const Tensor& x, const Tensor& grad_y, Tensor& grad_w) {
  check_shapes(x, grad_w, grad_y, "linear_backward_weight");
  const int64_t batch = x.dim(0), in = x.dim(1), out = grad_w.dim(0);
  dispatch_floating(x.dtype(), "linear_backward_weight", [&]<class T>(T) {
    if (batch == 0) {
      std::fill_n(grad_w.host<T>(), grad_w.numel(), T(0));
      return;
    }
    gemm(true, false, out, in, batch, grad_y.host<T>(), x.host<T>(), grad_w.host<T>());
  });
}

void linear_backward_bias(const Tensor& grad_y, Tensor& grad_bias) {
  CONVLAB_CHECK(grad_y.rank() == 2 && grad_bias.shape() == Shape({grad_y.dim(1)}) &&
                    grad_bias.dtype() == grad_y.dtype(),
                "linear_backward_bias: {} for {}", grad_bias.describe(), grad_y.describe());
  dispatch_floating(grad_y.dtype(), "linear_backward_bias", [&]<class T>(T) {
    const int64_t batch = grad_y.dim(0), out = grad_y.dim(1);
    const T* g = grad_y.host<T>();
    T* gb = grad_bias.host<T>();
    for (int64_t j = 0; j < out; ++j) {
      double total = 0;
      for (int64_t n = 0; n < batch; ++n) total += g[n * out + j];
      gb[j] = static_cast<T>(total);
    }
  });
}

}  // namespace convlab::backend_cpu
