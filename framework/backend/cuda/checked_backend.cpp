// The CUDA table with a wait and an error check after every op, for --sync-each-op /
// CONVLAB_SYNC_EACH_OP=1. A kernel's fault surfaces asynchronously, at whatever call next
// touches the GPU; with this table it surfaces at the op that caused it, named with its
// operands. Waiting is illegal while a CUDA graph is recorded, so recordings skip the check.
#include <string>
#include <type_traits>

#include "framework/backend/cuda/cuda_check.h"
#include "framework/backend/cuda/cuda_context.h"
#include "framework/backend/cuda/cuda_ops.h"

namespace convlab {
namespace {

// The operands in words, for the error message.
std::string describe_operand(const Tensor& t) { return t.describe(); }
std::string describe_operand(const Tensor* t) { return t ? t->describe() : "none"; }
template <class T>
std::string describe_operand(const std::vector<T*>& tensors) {
  return fmt::format("[{} tensors{}]", tensors.size(), tensors.empty() ? "" : ", first " + tensors[0]->describe());
}
std::string describe_operand(const ConvGeometry& g) { return g.str(); }
// Numbers as they are; other arguments (keys, configurations) by their kind only.
template <class T>
std::string describe_operand(const T& v) {
  if constexpr (std::is_arithmetic_v<T>) return fmt::format("{}", v);
  else return "...";
}

// The device an op runs on: that of its first tensor operand.
const Tensor* first_tensor(const Tensor& t) { return &t; }
const Tensor* first_tensor(const Tensor* t) { return t; }
template <class T>
const Tensor* first_tensor(const std::vector<T*>& tensors) {
  return tensors.empty() ? nullptr : tensors[0];
}
template <class T>
const Tensor* first_tensor(const T&) {
  return nullptr;
}

template <class... Args>
void check_after(const char* op, const Args&... args) {
  const Tensor* any = nullptr;
  ((any = any ? any : first_tensor(args)), ...);
  if (!any || !any->device().is_cuda()) return;
  CudaContext& ctx = cuda_context(any->device());
  if (ctx.capturing()) return;
  cudaError_t status = cudaStreamSynchronize(ctx.stream());
  if (status == cudaSuccess) status = cudaGetLastError();
  if (status == cudaSuccess) return;
  std::string operands;
  ((operands += (operands.empty() ? "" : ", ") + describe_operand(args)), ...);
  CONVLAB_FAIL("CUDA error after {}({}): {} ({}). The GPU state is now undefined: rerun to recover; this op or "
               "its inputs caused it", op, operands, cudaGetErrorString(status), cudaGetErrorName(status));
}

// checked<Name, &fn>::call has fn's signature: it runs fn, then check_after.
template <OpName Name, auto Fn>
struct checked;
template <OpName Name, class... Args, void (*Fn)(Args...)>
struct checked<Name, Fn> {
  static void call(Args... args) {
    Fn(std::forward<Args>(args)...);
    check_after(Name.text, args...);
  }
};

}  // namespace

const Backend& cuda_backend_checked() {
  using namespace backend_cuda;
  static const Backend table{
      .fill = checked<"fill", fill>::call,
      .convert = checked<"convert", convert>::call,
      .add = checked<"add", add>::call,
      .axpy = checked<"axpy", axpy>::call,
      .mul = checked<"mul", mul>::call,
      .scale_by = checked<"scale_by", scale_by>::call,
      .sum = checked<"sum", sum>::call,
      .sum_squares = checked<"sum_squares", sum_squares>::call,
      .relu_forward = checked<"relu_forward", relu_forward>::call,
      .relu_backward = checked<"relu_backward", relu_backward>::call,
      .dropout_forward = checked<"dropout_forward", dropout_forward>::call,
      .dropout_backward = checked<"dropout_backward", dropout_backward>::call,
      .conv2d_forward = checked<"conv2d_forward", conv2d_forward>::call,
      .conv2d_backward_data = checked<"conv2d_backward_data", conv2d_backward_data>::call,
      .conv2d_backward_filter = checked<"conv2d_backward_filter", conv2d_backward_filter>::call,
      .conv2d_backward_bias = checked<"conv2d_backward_bias", conv2d_backward_bias>::call,
      .linear_forward = checked<"linear_forward", linear_forward>::call,
      .linear_backward_data = checked<"linear_backward_data", linear_backward_data>::call,
      .linear_backward_weight = checked<"linear_backward_weight", linear_backward_weight>::call,
      .linear_backward_bias = checked<"linear_backward_bias", linear_backward_bias>::call,
      .batchnorm_forward_train = checked<"batchnorm_forward_train", batchnorm_forward_train>::call,
      .batchnorm_forward_eval = checked<"batchnorm_forward_eval", batchnorm_forward_eval>::call,
      .batchnorm_backward = checked<"batchnorm_backward", batchnorm_backward>::call,
      .fold_batchnorm = checked<"fold_batchnorm", fold_batchnorm>::call,
      .global_avg_pool_forward = checked<"global_avg_pool_forward", global_avg_pool_forward>::call,
      .global_avg_pool_backward = checked<"global_avg_pool_backward", global_avg_pool_backward>::call,
      .softmax_xent_forward = checked<"softmax_xent_forward", softmax_xent_forward>::call,
      .softmax_xent_backward = checked<"softmax_xent_backward", softmax_xent_backward>::call,
      .track_nonfinite = checked<"track_nonfinite", track_nonfinite>::call,
      .increment = checked<"increment", increment>::call,
      .count_correct = checked<"count_correct", count_correct>::call,
      .sgd_sums = checked<"sgd_sums", sgd_sums>::call,
      .sgd_update = checked<"sgd_update", sgd_update>::call,
      .gather_batch = checked<"gather_batch", gather_batch>::call,
  };
  return table;
}

}  // namespace convlab
