#include "framework/backend/cpu/cpu_ops.h"

namespace convlab {

const Backend& cpu_backend() {
  static const Backend table{
      .fill = backend_cpu::fill,
      .add = backend_cpu::add,
      .axpy = backend_cpu::axpy,
      .mul = backend_cpu::mul,
      .scale_by = backend_cpu::scale_by,
      .sum = backend_cpu::sum,
      .sum_squares = backend_cpu::sum_squares,
      .relu_forward = backend_cpu::relu_forward,
      .relu_backward = backend_cpu::relu_backward,
      .dropout_forward = backend_cpu::dropout_forward,
      .dropout_backward = backend_cpu::dropout_backward,
      .conv2d_forward = backend_cpu::conv2d_forward,
      .conv2d_backward_data = backend_cpu::conv2d_backward_data,
      .conv2d_backward_filter = backend_cpu::conv2d_backward_filter,
      .conv2d_backward_bias = backend_cpu::conv2d_backward_bias,
      .linear_forward = backend_cpu::linear_forward,
      .linear_backward_data = backend_cpu::linear_backward_data,
      .linear_backward_weight = backend_cpu::linear_backward_weight,
      .linear_backward_bias = backend_cpu::linear_backward_bias,
      .batchnorm_forward_train = backend_cpu::batchnorm_forward_train,
      .batchnorm_forward_eval = backend_cpu::batchnorm_forward_eval,
      .batchnorm_backward = backend_cpu::batchnorm_backward,
      .global_avg_pool_forward = backend_cpu::global_avg_pool_forward,
      .global_avg_pool_backward = backend_cpu::global_avg_pool_backward,
      .softmax_xent_forward = backend_cpu::softmax_xent_forward,
      .softmax_xent_backward = backend_cpu::softmax_xent_backward,
      .track_nonfinite = backend_cpu::track_nonfinite,
      .increment = backend_cpu::increment,
      .count_correct = backend_cpu::count_correct,
      .sgd_sums = backend_cpu::sgd_sums,
      .sgd_update = backend_cpu::sgd_update,
      .gather_batch = backend_cpu::gather_batch,
  };
  return table;
}

}  // namespace convlab
