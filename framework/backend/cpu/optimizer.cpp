// CPU multi-tensor optimiser kernels.
#include "framework/backend/cpu/cpu_common.h"
#include "framework/backend/cpu/cpu_ops.h"
#include "kernels/sgd.h"

namespace convlab::backend_cpu {

void global_sum_squares(const std::vector<const Tensor*>& tensors, Tensor& out) {
  CONVLAB_CHECK(!tensors.empty(), "global_sum_squares of no tensors");
  dispatch_floating(out.dtype(), "global_sum_squares", [&]<class T>(T) {
    double total = 0;
    for (const Tensor* t : tensors) {
      const T* p = t->host<T>();
      for (int64_t i = 0; i < t->numel(); ++i) total += static_cast<double>(p[i]) * p[i];
    }
    out.host<T>()[0] = static_cast<T>(total);
  });
}

void sgd_update(const std::vector<Tensor*>& params, const std::vector<const Tensor*>& grads,
                const std::vector<Tensor*>& momenta, const Tensor& grad_sum_squares, const Tensor& lr,
                const SgdConfig& config) {
  CONVLAB_CHECK(params.size() == grads.size() && params.size() == momenta.size(),
                "sgd_update: {} parameters, {} gradients, {} momentum buffers", params.size(), grads.size(),
                momenta.size());
  dispatch_floating(lr.dtype(), "sgd_update", [&]<class T>(T) {
    const T clip = kernels::clip_scale(grad_sum_squares.host<T>()[0], static_cast<T>(config.max_norm));
    const T rate = lr.host<T>()[0];
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
                             static_cast<T>(config.decoupled_decay));
    }
  });
}

}  // namespace convlab::backend_cpu
