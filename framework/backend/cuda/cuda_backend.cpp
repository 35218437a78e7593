// The CUDA table. Slots without a CUDA function yet throw "not implemented on cuda yet".
#include "framework/backend/cuda/cuda_ops.h"

namespace convlab {

const Backend& cuda_backend() {
  static const Backend table{
      .fill = backend_cuda::fill,
      .add = not_implemented<"cuda", "add">,
      .axpy = backend_cuda::axpy,
      .mul = not_implemented<"cuda", "mul">,
      .scale_by = not_implemented<"cuda", "scale_by">,
      .sum = not_implemented<"cuda", "sum">,
      .sum_squares = not_implemented<"cuda", "sum_squares">,
      .relu_forward = backend_cuda::relu_forward,
      .relu_backward = backend_cuda::relu_backward,
      .dropout_forward = backend_cuda::dropout_forward,
      .dropout_backward = backend_cuda::dropout_backward,
      .conv2d_forward = not_implemented<"cuda", "conv2d_forward">,
      .conv2d_backward_data = not_implemented<"cuda", "conv2d_backward_data">,
      .conv2d_backward_filter = not_implemented<"cuda", "conv2d_backward_filter">,
      .conv2d_backward_bias = not_implemented<"cuda", "conv2d_backward_bias">,
      .batchnorm_forward_train = not_implemented<"cuda", "batchnorm_forward_train">,
      .batchnorm_forward_eval = not_implemented<"cuda", "batchnorm_forward_eval">,
      .batchnorm_backward = not_implemented<"cuda", "batchnorm_backward">,
      .global_avg_pool_forward = not_implemented<"cuda", "global_avg_pool_forward">,
      .global_avg_pool_backward = not_implemented<"cuda", "global_avg_pool_backward">,
      .softmax_xent_forward = not_implemented<"cuda", "softmax_xent_forward">,
      .softmax_xent_backward = not_implemented<"cuda", "softmax_xent_backward">,
      .count_correct = not_implemented<"cuda", "count_correct">,
      .global_sum_squares = not_implemented<"cuda", "global_sum_squares">,
      .sgd_update = not_implemented<"cuda", "sgd_update">,
      .gather_batch = not_implemented<"cuda", "gather_batch">,
  };
  return table;
}

}  // namespace convlab
