// Where a tensor's memory lives. A Device is a handle to a DeviceContext that the user
// owns (the CPU context is built in; a CudaContext is created explicitly and must outlive
// the tensors on it). Kernels find their stream and library handles through the device of
// their operands: nothing about the current device is global.
#pragma once

#include <cstddef>
#include <string>

namespace convlab {

enum class DeviceKind { cpu, cuda };

class DeviceContext {
 public:
  virtual ~DeviceContext() = default;
  virtual DeviceKind kind() const = 0;
  virtual std::string name() const = 0;
  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* ptr, size_t bytes) = 0;
  // Waits until all work queued on this device has finished.
  virtual void synchronize() = 0;
  // Copies in the device's stream order; copy_to_host returns once the bytes have arrived.
  virtual void copy_from_host(void* dst, const void* src, size_t bytes) = 0;
  virtual void copy_to_host(void* dst, const void* src, size_t bytes) = 0;
  virtual void copy_within(void* dst, const void* src, size_t bytes) = 0;
  // Diagnosis of asynchronous devices: when true, the backend dispatcher waits for and checks
  // every op it runs on this device, so a fault names its op (backend.h: backend()).
  virtual bool checks_each_op() const { return false; }
};

class Device {
 public:
  explicit Device(DeviceContext* context) : context_(context) {}
  DeviceKind kind() const { return context_->kind(); }
  bool is_cpu() const { return kind() == DeviceKind::cpu; }
  bool is_cuda() const { return kind() == DeviceKind::cuda; }
  DeviceContext& context() const { return *context_; }
  std::string name() const { return context_->name(); }
  bool operator==(const Device& other) const { return context_ == other.context_; }

 private:
  DeviceContext* context_;
};

// The CPU device (64-byte aligned host memory).
Device cpu();

}  // namespace convlab
