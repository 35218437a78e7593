// The f64 Gram (k, k) of one layer's centred f32 features on the device: the step every
// device measure starts from. Features are centred per column (CKA, Procrustes) or per
// example (RSA), range-scaled by a power of two (range_scale.h), multiplied by cuBLAS in
// blocks of kGramBlock feature columns into an f32 (k, k) product each, and the blocks summed
// in f64 (gram_block.h); at the end the scaling is undone, so the Gram holds its true values.
// CPU twin: cka::centre_columns / rsa::centre_rows, then cka::linear_gram.
//
// Work per call, k examples of p features: k^2 p multiply-adds (cuBLAS: the full (k, k)
// product, TF32 tensor cores in GramPrecision::tf32), and about 5 k p f32 reads or writes
// (largest magnitude, centring's two passes, the block's write and cuBLAS's read), plus k^2
// doubles per block for the f64 sum.
#pragma once

#include <algorithm>
#include <cstdint>

#include "framework/cka/cuda/device_features.h"
#include "framework/cka/options.h"
#include "framework/core/tensor.h"

namespace convlab {
class CudaContext;
}

namespace convlab::cka {

// Blocks of fewer feature columns than this use fp32 even in TF32 mode: they gain nothing
// from tensor cores, and a product of few terms keeps more of the operands' rounding.
inline constexpr int64_t kTf32MinColumns = 256;

enum class Centring {
  columns,  // each feature's mean over the examples
  rows,     // each example's mean over its features
};

class DeviceGram {
 public:
  // Runs on the context's stream with its cuBLAS handle; the context must outlive this object.
  DeviceGram(CudaContext& context, GramPrecision precision);

  // Queues: gram (k, k) f64 row-major (symmetric) of x's centred features; *nonfinite = 1
  // when x holds a NaN or infinity.
  void compute(const DeviceFeatureView& x, Centring centring, double* gram, int32_t* nonfinite);
  // Frees the buffers (the next call makes them again).
  void release();

 private:
  CudaContext& context_;
  GramPrecision precision_;
  Tensor block_;    // (k, w) f32: one centred block of w <= kGramBlock feature columns
  Tensor partial_;  // (k, k) f32: that block's products
  Tensor shift_;    // (k) f32: the row means (Centring::rows)
  Tensor bits_;     // (1) i32 holding the u32 bits of the largest magnitude
};

// At least `count` elements of T on `device` in `buffer`, reallocated only to grow. Work
// queued on the stream may still read the old memory: the allocator hands it out again only
// to later work on the same stream.
template <class T>
T* reserve(Tensor& buffer, int64_t count, Device device) {
  if (!buffer.defined() || buffer.numel() < count) {
    buffer = Tensor();
    buffer = Tensor::empty({std::max<int64_t>(count, 1)}, dtype_of<T>(), device);
  }
  return buffer.data<T>();
}

}  // namespace convlab::cka
