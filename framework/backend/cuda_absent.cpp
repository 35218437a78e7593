// The build without CUDA: every CUDA slot says how to get CUDA.
#include "framework/backend/backend.h"
#include "framework/backend/cuda_device.h"
#include "framework/backend/step_graph.h"

namespace convlab {

bool cuda_available() { return false; }

std::unique_ptr<DeviceContext> create_cuda_context(int, const CudaOptions&) {
  CONVLAB_FAIL("this convlab was built without CUDA; rebuild with nvcc on the PATH (and -DCONVLAB_CUDA=ON) "
               "to use --device cuda");
}

void wait_for_gpu(int) {
  CONVLAB_FAIL("this convlab was built without CUDA; rebuild with nvcc on the PATH (and -DCONVLAB_CUDA=ON) "
               "to use arrays on a GPU");
}

uint64_t free_device_memory(Device) {
  CONVLAB_FAIL("this convlab was built without CUDA: there is no GPU memory to query");
}

std::vector<std::string> describe_conv_choices(Device) { return {}; }

std::string conv_algorithm_record(Device) { return {}; }

void pin_conv_algorithms(Device, const std::string&, const std::string&) {}

std::string cuda_versions() { return "this convlab was built without CUDA"; }

std::unique_ptr<StepGraph> capture_step(Device, const std::function<void()>&) {
  CONVLAB_FAIL("CUDA graphs need CUDA, and this convlab was built without it");
}

const Backend& cuda_backend() {
  static const Backend table{
      .fill = not_implemented<"cuda-absent", "fill">,
      .convert = not_implemented<"cuda-absent", "convert">,
      .add = not_implemented<"cuda-absent", "add">,
      .axpy = not_implemented<"cuda-absent", "axpy">,
      .mul = not_implemented<"cuda-absent", "mul">,
      .scale_by = not_implemented<"cuda-absent", "scale_by">,
      .sum = not_implemented<"cuda-absent", "sum">,
      .sum_squares = not_implemented<"cuda-absent", "sum_squares">,
      .relu_forward = not_implemented<"cuda-absent", "relu_forward">,
      .relu_backward = not_implemented<"cuda-absent", "relu_backward">,
      .dropout_forward = not_implemented<"cuda-absent", "dropout_forward">,
      .dropout_backward = not_implemented<"cuda-absent", "dropout_backward">,
      .conv2d_forward = not_implemented<"cuda-absent", "conv2d_forward">,
      .conv2d_backward_data = not_implemented<"cuda-absent", "conv2d_backward_data">,
      .conv2d_backward_filter = not_implemented<"cuda-absent", "conv2d_backward_filter">,
      .conv2d_backward_bias = not_implemented<"cuda-absent", "conv2d_backward_bias">,
      .linear_forward = not_implemented<"cuda-absent", "linear_forward">,
      .linear_backward_data = not_implemented<"cuda-absent", "linear_backward_data">,
      .linear_backward_weight = not_implemented<"cuda-absent", "linear_backward_weight">,
      .linear_backward_bias = not_implemented<"cuda-absent", "linear_backward_bias">,
      .batchnorm_forward_train = not_implemented<"cuda-absent", "batchnorm_forward_train">,
      .batchnorm_forward_eval = not_implemented<"cuda-absent", "batchnorm_forward_eval">,
      .batchnorm_backward = not_implemented<"cuda-absent", "batchnorm_backward">,
      .fold_batchnorm = not_implemented<"cuda-absent", "fold_batchnorm">,
      .global_avg_pool_forward = not_implemented<"cuda-absent", "global_avg_pool_forward">,
      .global_avg_pool_backward = not_implemented<"cuda-absent", "global_avg_pool_backward">,
      .softmax_xent_forward = not_implemented<"cuda-absent", "softmax_xent_forward">,
      .softmax_xent_backward = not_implemented<"cuda-absent", "softmax_xent_backward">,
      .track_nonfinite = not_implemented<"cuda-absent", "track_nonfinite">,
      .increment = not_implemented<"cuda-absent", "increment">,
      .count_correct = not_implemented<"cuda-absent", "count_correct">,
      .sgd_sums = not_implemented<"cuda-absent", "sgd_sums">,
      .sgd_update = not_implemented<"cuda-absent", "sgd_update">,
      .gather_batch = not_implemented<"cuda-absent", "gather_batch">,
  };
  return table;
}

const Backend& cuda_backend_checked() { return cuda_backend(); }

}  // namespace convlab
