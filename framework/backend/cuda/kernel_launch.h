// What every source of the CUDA backend needs to launch its kernels: the block size, the
// grid for n elements, the stream of an operand's device, and the operand checks. Valid
// C++17 for nvcc and C++20 for the host compiler (CONVLAB_FOR_EACH only means something in
// device code).
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>

#include "framework/backend/backend.h"
#include "framework/backend/cuda/cuda_check.h"
#include "framework/backend/cuda/cuda_context.h"

namespace convlab::backend_cuda {

// Every kernel of the backend runs blocks of this many threads (a multiple of the warp size,
// which the block reductions rely on).
constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n elements: one element per thread up to a cap, beyond
// which the threads loop.
inline int blocks_for(int64_t n) {
  return static_cast<int>(std::min<int64_t>((n + kThreads - 1) / kThreads, 65535 * 8));
}

inline cudaStream_t stream_of(const Tensor& t) { return cuda_context(t.device()).stream(); }

inline void check_f32(std::initializer_list<const Tensor*> tensors, const char* op) {
  for (const Tensor* t : tensors)
    CONVLAB_CHECK(t->dtype() == DType::f32 && t->device().is_cuda(),
                  "{}: the CUDA backend takes f32 CUDA tensors, got {}", op, t->describe());
}

// f32 or bf16 CUDA tensors (kernels that read either storage into float).
inline void check_storage(std::initializer_list<const Tensor*> tensors, const char* op) {
  for (const Tensor* t : tensors)
    CONVLAB_CHECK((t->dtype() == DType::f32 || t->dtype() == DType::bf16) && t->device().is_cuda(),
                  "{}: the CUDA backend takes f32 or bf16 CUDA tensors, got {}", op, t->describe());
}

// Calls f(float{}) or f(kernels::Bf16{}) for an f32 or bf16 CUDA tensor's storage type.
template <class F>
void dispatch_storage(const Tensor& t, const char* op, F&& f) {
  CONVLAB_CHECK(t.device().is_cuda(), "{}: expected a CUDA tensor, got {}", op, t.describe());
  switch (t.dtype()) {
    case DType::f32: f(float{}); return;
    case DType::bf16: f(kernels::Bf16{}); return;
    default: CONVLAB_FAIL("{}: the CUDA backend takes f32 or bf16 here, got {}", op, t.describe());
  }
}

inline void check_cuda(const Tensor& t, DType dtype, const char* op) {
  CONVLAB_CHECK(t.dtype() == dtype && t.device().is_cuda(), "{}: expected a {} CUDA tensor, got {}", op,
                dtype_name(dtype), t.describe());
}

}  // namespace convlab::backend_cuda

// Grid-stride loop over n elements.
#define CONVLAB_FOR_EACH(i, n) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)
