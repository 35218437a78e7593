// CPU batch normalisation over (N, H, W) per channel, in either memory format; channels run
// in parallel, each summed in double in a fixed order (the same order in both formats).
#include "framework/backend/cpu/cpu_common.h"
#include "framework/backend/cpu/cpu_ops.h"
#include "kernels/activation.h"
#include "kernels/batchnorm.h"

namespace convlab::backend_cpu {
namespace {

// (N, C, plane) in either memory format: element i of the plane of (n, c).
struct Layout {
  int64_t batch, channels, plane;
  bool channels_last;
  explicit Layout(const Tensor& x)
      : batch(x.dim(0)),
        channels(x.dim(1)),
        plane(x.numel() / (x.dim(0) * x.dim(1))),
        channels_last(x.channels_last()) {}
  int64_t count() const { return batch * plane; }
  int64_t at(int64_t n, int64_t c, int64_t i) const {
    return channels_last ? (n * plane + i) * channels + c : (n * channels + c) * plane + i;
  }
};

void check_channels(const Tensor& x, std::initializer_list<const Tensor*> per_channel, const char* op) {
  CONVLAB_CHECK(x.rank() >= 2, "{}: input {} needs (N, C, ...)", op, x.describe());
  for (const Tensor* t : per_channel)
    CONVLAB_CHECK(t->numel() == x.dim(1) && t->dtype() == x.dtype(), "{}: {} does not match {} channels",
                  op, t->describe(), x.dim(1));
}

}  // namespace

void batchnorm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps, double momentum,
                             bool relu, Tensor& y, Tensor& saved_mean, Tensor& saved_inv_std, Tensor& running_mean,
                             Tensor& running_var) {
  check_channels(x, {&gamma, &beta, &saved_mean, &saved_inv_std, &running_mean, &running_var}, "batchnorm_forward_train");
  check_same_shape(x, y, "batchnorm_forward_train");
  dispatch_floating(x.dtype(), "batchnorm_forward_train", [&]<class T>(T) {
    const Layout l(x);
    const T* px = x.host<T>();
    T* py = y.host<T>();
#pragma omp parallel for
    for (int64_t c = 0; c < l.channels; ++c) {
      double total = 0;
      for (int64_t n = 0; n < l.batch; ++n)
        for (int64_t i = 0; i < l.plane; ++i) total += px[l.at(n, c, i)];
      const double mean = total / l.count();
      double squares = 0;
      for (int64_t n = 0; n < l.batch; ++n)
        for (int64_t i = 0; i < l.plane; ++i) {
          const double d = px[l.at(n, c, i)] - mean;
          squares += d * d;
        }
      const T variance = static_cast<T>(squares / l.count());
      const T m = static_cast<T>(mean);
      const T inv_std = kernels::batchnorm_inv_std(variance, eps);
      const T g = gamma.host<T>()[c], b = beta.host<T>()[c];
      for (int64_t n = 0; n < l.batch; ++n)
        for (int64_t i = 0; i < l.plane; ++i) {
          const T z = kernels::batchnorm_apply(px[l.at(n, c, i)], m, inv_std, g, b);
          py[l.at(n, c, i)] = relu ? kernels::relu(z) : z;
        }
      saved_mean.host<T>()[c] = m;
      saved_inv_std.host<T>()[c] = inv_std;
      running_mean.host<T>()[c] = kernels::running_average(running_mean.host<T>()[c], m, momentum);
      running_var.host<T>()[c] = kernels::running_average(running_var.host<T>()[c], variance, momentum);
    }
  });
}

void batchnorm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                            const Tensor& running_var, double eps, bool relu, Tensor& y) {
  check_channels(x, {&gamma, &beta, &running_mean, &running_var}, "batchnorm_forward_eval");
  check_same_shape(x, y, "batchnorm_forward_eval");
  dispatch_floating(x.dtype(), "batchnorm_forward_eval", [&]<class T>(T) {
    const Layout l(x);
    const T* px = x.host<T>();
    T* py = y.host<T>();
#pragma omp parallel for
    for (int64_t c = 0; c < l.channels; ++c) {
      const T m = running_mean.host<T>()[c];
      const T inv_std = kernels::batchnorm_inv_std(running_var.host<T>()[c], eps);
      const T g = gamma.host<T>()[c], b = beta.host<T>()[c];
      for (int64_t n = 0; n < l.batch; ++n)
        for (int64_t i = 0; i < l.plane; ++i) {
          const T z = kernels::batchnorm_apply(px[l.at(n, c, i)], m, inv_std, g, b);
          py[l.at(n, c, i)] = relu ? kernels::relu(z) : z;
        }
    }
  });
}

// With a fused ReLU (y given), the gradient reaching the normalisation is relu_grad(y, grad_y),
// formed on the fly in both passes.
void batchnorm_backward(const Tensor& x, const Tensor* y, const Tensor& gamma, const Tensor& saved_mean,
                        const Tensor& saved_inv_std, const Tensor& grad_y, Tensor& grad_x, Tensor& grad_gamma,
                        Tensor& grad_beta) {
  check_channels(x, {&gamma, &saved_mean, &saved_inv_std, &grad_gamma, &grad_beta}, "batchnorm_backward");
  check_same_shape(x, grad_y, "batchnorm_backward");
  check_same_shape(x, grad_x, "batchnorm_backward");
  if (y) check_same_shape(x, *y, "batchnorm_backward");
  dispatch_floating(x.dtype(), "batchnorm_backward", [&]<class T>(T) {
    const Layout l(x);
    const T* px = x.host<T>();
    const T* py = y ? y->host<T>() : nullptr;
    const T* pgy = grad_y.host<T>();
    T* pgx = grad_x.host<T>();
    auto gradient = [&](int64_t at) { return py ? kernels::relu_grad(py[at], pgy[at]) : pgy[at]; };
#pragma omp parallel for
    for (int64_t c = 0; c < l.channels; ++c) {
      const T m = saved_mean.host<T>()[c], inv_std = saved_inv_std.host<T>()[c];
      double sum_gy = 0, sum_gy_xhat = 0;
      for (int64_t n = 0; n < l.batch; ++n)
        for (int64_t i = 0; i < l.plane; ++i) {
          const int64_t at = l.at(n, c, i);
          const T gy = gradient(at);
          sum_gy += gy;
          sum_gy_xhat += gy * ((px[at] - m) * inv_std);
        }
      const T gb = static_cast<T>(sum_gy), gg = static_cast<T>(sum_gy_xhat);
      const T g = gamma.host<T>()[c];
      const T inv_count = T(1) / static_cast<T>(l.count());
      for (int64_t n = 0; n < l.batch; ++n)
        for (int64_t i = 0; i < l.plane; ++i) {
          const int64_t at = l.at(n, c, i);
          pgx[at] = kernels::batchnorm_grad_input(px[at], gradient(at), m, inv_std, g, gg, gb, inv_count);
        }
      grad_gamma.host<T>()[c] = gg;
      grad_beta.host<T>()[c] = gb;
    }
  });
}

void fold_batchnorm(const Tensor& weight, const Tensor* bias, const Tensor& gamma, const Tensor& beta,
                    const Tensor& running_mean, const Tensor& running_var, double eps, Tensor& folded_weight,
                    Tensor& folded_bias) {
  const char* op = "fold_batchnorm";
  CONVLAB_CHECK(weight.rank() == 4 && !weight.channels_last(), "{}: weight {} must be a contiguous (K, C, R, S)", op,
                weight.describe());
  check_same_shape(weight, folded_weight, op);
  CONVLAB_CHECK(weight.dim(0) > 0, "{}: weight {} has no output channels", op, weight.describe());
  for (const Tensor* t : std::initializer_list<const Tensor*>{&gamma, &beta, &running_mean, &running_var, &folded_bias, bias})
    CONVLAB_CHECK(!t || (t->numel() == weight.dim(0) && t->dtype() == weight.dtype()), "{}: {} for {} output channels",
                  op, t ? t->describe() : "", weight.dim(0));
  dispatch_floating(weight.dtype(), op, [&]<class T>(T) {
    const int64_t channels = weight.dim(0), per_channel = weight.numel() / channels;
    const T* w = weight.host<T>();
    T* fw = folded_weight.host<T>();
    for (int64_t k = 0; k < channels; ++k) {
      const T scale = kernels::batchnorm_fold_scale(gamma.host<T>()[k], running_var.host<T>()[k], eps);
      for (int64_t i = 0; i < per_channel; ++i) fw[k * per_channel + i] = w[k * per_channel + i] * scale;
      folded_bias.host<T>()[k] = kernels::batchnorm_fold_bias(bias ? bias->host<T>()[k] : T(0),
                                                               running_mean.host<T>()[k], scale, beta.host<T>()[k]);
    }
  });
}

}  // namespace convlab::backend_cpu
