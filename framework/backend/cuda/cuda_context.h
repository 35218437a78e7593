// A CUDA device as convlab uses it: one stream on which all its work is queued in order, a
// caching allocator (no cudaMalloc/cudaFree once the shapes of a step have been seen), and
// the library handles, created on first use.
#pragma once

#include <cuda_runtime.h>
#include <cudnn.h>

#include <map>
#include <string>
#include <vector>

#include "framework/core/device.h"

namespace convlab {

class CudaContext final : public DeviceContext {
 public:
  explicit CudaContext(int ordinal);
  ~CudaContext() override;
  CudaContext(const CudaContext&) = delete;
  CudaContext& operator=(const CudaContext&) = delete;

  DeviceKind kind() const override { return DeviceKind::cuda; }
  std::string name() const override;
  void* allocate(size_t bytes) override;
  void deallocate(void* ptr, size_t bytes) override;
  void synchronize() override;
  void copy_from_host(void* dst, const void* src, size_t bytes) override;
  void copy_to_host(void* dst, const void* src, size_t bytes) override;
  void copy_within(void* dst, const void* src, size_t bytes) override;

  cudaStream_t stream() const { return stream_; }
  int ordinal() const { return ordinal_; }
  int multiprocessors() const { return multiprocessors_; }
  cudnnHandle_t cudnn();
  // Bytes held by the allocator (in use + cached), for reports.
  size_t reserved_bytes() const { return reserved_bytes_; }

 private:
  static size_t round_size(size_t bytes);
  void release_cache();

  int ordinal_;
  int multiprocessors_ = 0;
  std::string device_name_;
  cudaStream_t stream_ = nullptr;
  cudnnHandle_t cudnn_ = nullptr;
  std::map<size_t, std::vector<void*>> free_blocks_;  // rounded size -> cached blocks
  size_t reserved_bytes_ = 0;
};

// The CudaContext behind a CUDA tensor's device.
CudaContext& cuda_context(Device device);

}  // namespace convlab
