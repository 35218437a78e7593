// CPU: fill, arithmetic, reductions, ReLU, dropout.
#include "framework/backend/cpu/cpu_ops.h"
#include "framework/backend/cpu/cpu_common.h"
#include "kernels/activation.h"

namespace convlab::backend_cpu {

void fill(Tensor& t, double value) {
  const int64_t n = t.numel();
  switch (t.dtype()) {
    case DType::f32: std::fill_n(t.host<float>(), n, static_cast<float>(value)); return;
    case DType::f64: std::fill_n(t.host<double>(), n, value); return;
    case DType::i32: std::fill_n(t.host<int32_t>(), n, static_cast<int32_t>(value)); return;
    case DType::u8: std::fill_n(t.host<uint8_t>(), n, static_cast<uint8_t>(value)); return;
    case DType::bf16: break;
  }
  CONVLAB_FAIL("fill: unsupported dtype {}", dtype_name(t.dtype()));
}

void add(const Tensor& a, const Tensor& b, Tensor& out) {
  check_same_shape(a, b, "add");
  check_same_shape(a, out, "add");
  dispatch_floating(a.dtype(), "add", [&]<class T>(T) {
    const T* pa = a.host<T>();
    const T* pb = b.host<T>();
    T* po = out.host<T>();
    const int64_t n = a.numel();
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; ++i) po[i] = pa[i] + pb[i];
  });
}

void axpy(double alpha, const Tensor& x, Tensor& y) {
  check_same_shape(x, y, "axpy");
  dispatch_floating(x.dtype(), "axpy", [&]<class T>(T) {
    const T* px = x.host<T>();
    T* py = y.host<T>();
    const T a = static_cast<T>(alpha);
    const int64_t n = x.numel();
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; ++i) py[i] += a * px[i];
  });
}

void mul(const Tensor& a, const Tensor& b, Tensor& out) {
  check_same_shape(a, b, "mul");
  check_same_shape(a, out, "mul");
  dispatch_floating(a.dtype(), "mul", [&]<class T>(T) {
    const T* pa = a.host<T>();
    const T* pb = b.host<T>();
    T* po = out.host<T>();
    for (int64_t i = 0; i < a.numel(); ++i) po[i] = pa[i] * pb[i];
  });
}

void scale_by(const Tensor& x, const Tensor& s, double alpha, Tensor& out) {
  check_same_shape(x, out, "scale_by");
  CONVLAB_CHECK(s.numel() == 1 && s.dtype() == x.dtype(), "scale_by: the scale {} must be one {} element",
                s.describe(), dtype_name(x.dtype()));
  dispatch_floating(x.dtype(), "scale_by", [&]<class T>(T) {
    const T factor = static_cast<T>(alpha) * s.host<T>()[0];
    const T* px = x.host<T>();
    T* po = out.host<T>();
    const int64_t n = x.numel();
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; ++i) po[i] = factor * px[i];
  });
}

namespace {
// Sums in double in a fixed order, so results repeat bitwise.
template <class T, class F>
double reduce(const Tensor& x, F&& term) {
  const T* p = x.host<T>();
  double total = 0;
  for (int64_t i = 0; i < x.numel(); ++i) total += term(static_cast<double>(p[i]));
  return total;
}
}  // namespace

void sum(const Tensor& x, Tensor& out) {
  dispatch_floating(x.dtype(), "sum", [&]<class T>(T) {
    out.host<T>()[0] = static_cast<T>(reduce<T>(x, [](double v) { return v; }));
  });
}

void sum_squares(const Tensor& x, Tensor& out) {
  dispatch_floating(x.dtype(), "sum_squares", [&]<class T>(T) {
    out.host<T>()[0] = static_cast<T>(reduce<T>(x, [](double v) { return v * v; }));
  });
}

void relu_forward(const Tensor& x, Tensor& y) {
  check_same_shape(x, y, "relu_forward");
  dispatch_floating(x.dtype(), "relu_forward", [&]<class T>(T) {
    const T* px = x.host<T>();
    T* py = y.host<T>();
    const int64_t n = x.numel();
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; ++i) py[i] = kernels::relu(px[i]);
  });
}

void relu_backward(const Tensor& y, const Tensor& grad_y, Tensor& grad_x) {
  check_same_shape(y, grad_y, "relu_backward");
  check_same_shape(y, grad_x, "relu_backward");
  dispatch_floating(y.dtype(), "relu_backward", [&]<class T>(T) {
    const T* py = y.host<T>();
    const T* pg = grad_y.host<T>();
    T* pgx = grad_x.host<T>();
    const int64_t n = y.numel();
#pragma omp parallel for if (n > 65536)
    for (int64_t i = 0; i < n; ++i) pgx[i] = kernels::relu_grad(py[i], pg[i]);
  });
}

// The mask is redrawn from the key in the backward: nothing is saved between the two.
void dropout_forward(const Tensor& x, double p, RandomKey unresolved_key, Tensor& y) {
  check_same_shape(x, y, "dropout_forward");
  const RandomKey key = kernels::resolved(unresolved_key);
  dispatch_floating(x.dtype(), "dropout_forward", [&]<class T>(T) {
    const T* px = x.host<T>();
    T* py = y.host<T>();
    const int64_t n = x.numel();
#pragma omp parallel for if (n > 16384)
    for (int64_t i = 0; i < n; ++i) py[i] = px[i] * kernels::dropout_factor<T>(key, i, p);
  });
}

void dropout_backward(const Tensor& grad_y, double p, RandomKey key, Tensor& grad_x) {
  dropout_forward(grad_y, p, key, grad_x);  // the same mask and scale
}

}  // namespace convlab::backend_cpu
