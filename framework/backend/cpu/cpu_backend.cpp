// The CPU table. Every slot takes bf16 operands through f32 copies (via_f32) and the
// convolutions take channels_last operands through contiguous copies (via_contiguous):
// storage_wrappers.h says why. BatchNorm, pooling, batch assembly and conversion handle
// channels_last natively; the element-wise slots run in any format.
#include "framework/backend/cpu/cpu_ops.h"
#include "framework/backend/cpu/storage_wrappers.h"

namespace convlab {

const Backend& cpu_backend() {
  using namespace backend_cpu;
  static const Backend table{
      .fill = via_f32<fill>::call,
      .convert = convert,
      .add = via_f32<add>::call,
      .axpy = via_f32<axpy>::call,
      .mul = via_f32<mul>::call,
      .scale_by = via_f32<scale_by>::call,
      .sum = via_f32<sum>::call,
      .sum_squares = via_f32<sum_squares>::call,
      .relu_forward = via_f32<relu_forward>::call,
      .relu_backward = via_f32<relu_backward>::call,
      .dropout_forward = via_f32<dropout_forward>::call,
      .dropout_backward = via_f32<dropout_backward>::call,
      .conv2d_forward = via_f32<via_contiguous<conv2d_forward>::call>::call,
      .conv2d_backward_data = via_f32<via_contiguous<conv2d_backward_data>::call>::call,
      .conv2d_backward_filter = via_f32<via_contiguous<conv2d_backward_filter>::call>::call,
      .conv2d_backward_bias = via_f32<via_contiguous<conv2d_backward_bias>::call>::call,
      .linear_forward = via_f32<linear_forward>::call,
      .linear_backward_data = via_f32<linear_backward_data>::call,
      .linear_backward_weight = via_f32<linear_backward_weight>::call,
      .linear_backward_bias = via_f32<linear_backward_bias>::call,
      .batchnorm_forward_train = via_f32<batchnorm_forward_train>::call,
      .batchnorm_forward_eval = via_f32<batchnorm_forward_eval>::call,
      .batchnorm_backward = via_f32<batchnorm_backward>::call,
      .fold_batchnorm = fold_batchnorm,
      .global_avg_pool_forward = via_f32<global_avg_pool_forward>::call,
      .global_avg_pool_backward = via_f32<global_avg_pool_backward>::call,
      .softmax_xent_forward = via_f32<softmax_xent_forward>::call,
      .softmax_xent_backward = via_f32<softmax_xent_backward>::call,
      .track_nonfinite = via_f32<track_nonfinite>::call,
      .increment = increment,
      .count_correct = via_f32<count_correct>::call,
      .sgd_sums = sgd_sums,
      .sgd_update = sgd_update,
      .gather_batch = via_f32<gather_batch>::call,
  };
  return table;
}

}  // namespace convlab
