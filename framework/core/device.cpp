#include "framework/core/device.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "framework/core/error.h"

namespace convlab {
namespace {

class CpuContext final : public DeviceContext {
 public:
  DeviceKind kind() const override { return DeviceKind::cpu; }
  std::string name() const override { return "cpu"; }
  void* allocate(size_t bytes) override {
    if (bytes == 0) return nullptr;
    const size_t rounded = (bytes + 63) / 64 * 64;
    void* ptr = std::aligned_alloc(64, rounded);
    if (!ptr)
      CONVLAB_FAIL("out of host memory allocating {} bytes: use a smaller batch or data subset", bytes);
    return ptr;
  }
  void deallocate(void* ptr, size_t) override { std::free(ptr); }
  void synchronize() override {}
  void copy_from_host(void* dst, const void* src, size_t bytes) override { copy(dst, src, bytes); }
  void copy_to_host(void* dst, const void* src, size_t bytes) override { copy(dst, src, bytes); }
  void copy_within(void* dst, const void* src, size_t bytes) override { copy(dst, src, bytes); }

 private:
  static void copy(void* dst, const void* src, size_t bytes) {
    if (bytes) std::memcpy(dst, src, bytes);
  }
};

}  // namespace

Device cpu() {
  static CpuContext context;  // stateless: the one CPU
  return Device(&context);
}

}  // namespace convlab
