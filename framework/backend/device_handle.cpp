#include "framework/backend/cuda_device.h"
#include "framework/core/error.h"

namespace convlab {

DeviceHandle::DeviceHandle(const std::string& name, const CudaOptions& options) {
  if (name == "cuda") {
    owned_ = create_cuda_context(0, options);
    device_ = Device(owned_.get());
  } else {
    CONVLAB_CHECK(name == "cpu", "the device is cpu or cuda, not '{}'", name);
  }
}

}  // namespace convlab
