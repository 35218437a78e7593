#include "framework/backend/cuda_device.h"
#include "framework/core/error.h"

namespace convlab {
namespace {

#ifdef CONVLAB_WITH_CUDA
constexpr const char* kNoGpu = "no GPU answered";
#else
constexpr const char* kNoGpu = "this convlab was built without CUDA";
#endif

}  // namespace

DeviceHandle::DeviceHandle(const std::string& name, const CudaOptions& options) {
  CONVLAB_CHECK(name == "cpu" || name == "cuda" || name == "auto", "the device is auto, cpu or cuda, not '{}'", name);
  if (name == "cpu") {
    choice_ = "cpu";
    return;
  }
  if (name == "cuda") {
    owned_ = create_cuda_context(0, options);
    device_ = Device(owned_.get());
    choice_ = device_.name();
    return;
  }
  if (!cuda_available()) {
    choice_ = fmt::format("cpu, chosen by --device auto: {}", kNoGpu);
    return;
  }
  try {
    owned_ = create_cuda_context(0, options);
  } catch (const std::exception& error) {
    // A GPU that is listed but cannot be used (driver mismatch, out of memory) is no GPU.
    choice_ = fmt::format("cpu, chosen by --device auto: the GPU did not start ({})", error.what());
    return;
  }
  device_ = Device(owned_.get());
  choice_ = fmt::format("{}, chosen by --device auto: a GPU answered", device_.name());
}

}  // namespace convlab
