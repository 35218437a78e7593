// The CUDA table: every slot has a CUDA function (backend/cuda/cuda_ops.h).
#include "framework/backend/cuda/cuda_ops.h"

namespace convlab {

const Backend& cuda_backend() {
  static const Backend table{
      .fill = backend_cuda::fill,
      .convert = backend_cuda::convert,
      .add = backend_cuda::add,
      .axpy = backend_cuda::axpy,
      .mul = backend_cuda::mul,
      .scale_by = backend_cuda::scale_by,
      .sum = backend_cuda::sum,
      .sum_squares = backend_cuda::sum_squares,
      .relu_forward = backend_cuda::relu_forward,
      .relu_backward = backend_cuda::relu_backward,
      .dropout_forward = backend_cuda::dropout_forward,
      .dropout_backward = backend_cuda::dropout_backward,
      .conv2d_forward = backend_cuda::conv2d_forward,
      .conv2d_backward_data = backend_cuda::conv2d_backward_data,
      .conv2d_backward_filter = backend_cuda::conv2d_backward_filter,
      .conv2d_backward_bias = backend_cuda::conv2d_backward_bias,
      .linear_forward = backend_cuda::linear_forward,
      .linear_backward_data = backend_cuda::linear_backward_data,
      .linear_backward_weight = backend_cuda::linear_backward_weight,
      .linear_backward_bias = backend_cuda::linear_backward_bias,
      .batchnorm_forward_train = backend_cuda::batchnorm_forward_train,
      .batchnorm_forward_eval = backend_cuda::batchnorm_forward_eval,
      .batchnorm_backward = backend_cuda::batchnorm_backward,
      .fold_batchnorm = backend_cuda::fold_batchnorm,
      .global_avg_pool_forward = backend_cuda::global_avg_pool_forward,
      .global_avg_pool_backward = backend_cuda::global_avg_pool_backward,
      .softmax_xent_forward = backend_cuda::softmax_xent_forward,
      .softmax_xent_backward = backend_cuda::softmax_xent_backward,
      .track_nonfinite = backend_cuda::track_nonfinite,
      .increment = backend_cuda::increment,
      .count_correct = backend_cuda::count_correct,
      .sgd_sums = backend_cuda::sgd_sums,
      .sgd_update = backend_cuda::sgd_update,
      .gather_batch = backend_cuda::gather_batch,
  };
  return table;
}

}  // namespace convlab
