// CPU multi-tensor optimiser kernels.
#include "framework/backend/cpu/cpu_common.h"
#include "framework/backend/cpu/cpu_ops.h"
#include "kernels/sgd.h"

namespace convlab::backend_cpu {
namespace {

void check_lists(size_t params, size_t grads, size_t momenta, const char* op) {
  CONVLAB_CHECK(params == grads && params == momenta, "{}: {} parameters, {} gradients, {} momentum buffers", op,
                params, grads, momenta);
}

}  // namespace

// Sums in double in parameter order, then element order: the result repeats bitwise.
void sgd_sums(const std::vector<const Tensor*>& params, const std::vector<const Tensor*>& grads, double l2,
              Tensor& grad_sum_squares, Tensor& param_sum_squares) {
  CONVLAB_CHECK(!params.empty(), "sgd_sums of no parameters");
  check_lists(params.size(), grads.size(), params.size(), "sgd_sums");
  dispatch_floating(grad_sum_squares.dtype(), "sgd_sums", [&]<class T>(T) {
    const T two_l2 = static_cast<T>(2.0 * l2);
    double grad_total = 0, param_total = 0;
    for (size_t i = 0; i < params.size(); ++i) {
      check_same_shape(*params[i], *grads[i], "sgd_sums");
      const T* p = params[i]->host<T>();
      const T* g = grads[i]->host<T>();
      for (int64_t j = 0; j < params[i]->numel(); ++j) {
        const T total_grad = kernels::penalised_grad(g[j], p[j], two_l2);
        grad_total += static_cast<double>(total_grad) * total_grad;
        param_total += static_cast<double>(p[j]) * p[j];
      }
    }
    grad_sum_squares.host<T>()[0] = static_cast<T>(grad_total);
    param_sum_squares.host<T>()[0] = static_cast<T>(param_total);
  });
}

void sgd_update(const std::vector<Tensor*>& params, const std::vector<const Tensor*>& grads,
                const std::vector<Tensor*>& momenta, const Tensor& grad_sum_squares, const Tensor& lr,
                const SgdConfig& config) {
  check_lists(params.size(), grads.size(), momenta.size(), "sgd_update");
  dispatch_floating(lr.dtype(), "sgd_update", [&]<class T>(T) {
    const T clip = kernels::clip_scale(grad_sum_squares.host<T>()[0], static_cast<T>(config.max_norm));
    const T rate = lr.host<T>()[0];
    const T two_l2 = static_cast<T>(2.0 * config.l2);
    for (size_t i = 0; i < params.size(); ++i) {
      check_same_shape(*params[i], *grads[i], "sgd_update");
      check_same_shape(*params[i], *momenta[i], "sgd_update");
      T* p = params[i]->host<T>();
      const T* g = grads[i]->host<T>();
      T* t = momenta[i]->host<T>();
      const int64_t n = params[i]->numel();
#pragma omp parallel for if (n > 65536)
      for (int64_t j = 0; j < n; ++j)
        kernels::sgd_element(p[j], g[j], t[j], rate, clip, static_cast<T>(config.momentum), config.nesterov,
                             static_cast<T>(config.decoupled_decay), two_l2);
    }
  });
}

}  // namespace convlab::backend_cpu
