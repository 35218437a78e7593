#include "framework/backend/backend.h"

namespace convlab {

const Backend& backend(Device device) {
  if (device.is_cpu()) return cpu_backend();
  return device.context().checks_each_op() ? cuda_backend_checked() : cuda_backend();
}

void check_same_device(std::initializer_list<const Tensor*> tensors, const char* op) {
  const Tensor* first = *tensors.begin();
  for (const Tensor* t : tensors)
    CONVLAB_CHECK(t->device() == first->device(), "{}: operands on different devices ({} and {})",
                  op, first->describe(), t->describe());
}

void check_same_shape(const Tensor& a, const Tensor& b, const char* op) {
  CONVLAB_CHECK(a.shape() == b.shape() && a.dtype() == b.dtype() && a.format() == b.format(), "{}: {} and {} differ",
                op, a.describe(), b.describe());
}

void throw_not_implemented(const char* device, const char* op) {
  if (std::string(device) == "cuda-absent")
    CONVLAB_FAIL("{}: this convlab was built without CUDA; rebuild with nvcc on the PATH "
                 "(and -DCONVLAB_CUDA=ON) to use --device cuda", op);
  CONVLAB_FAIL("{} is not implemented on {} yet", op, device);
}

}  // namespace convlab
