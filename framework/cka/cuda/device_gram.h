// The f64 Gram (k, k) of one layer's centred f32 features on the device: the step every
// device measure starts from. Features are centred per column (CKA, Procrustes) or per
// example (RSA), range-scaled by a power of two (range_scale.h), multiplied by cuBLAS in
// blocks of kGramBlock feature columns into an f32 (k, k) product each, and the blocks summed
// in f64 (gram_block.h); at the end the scaling is undone, so the Gram holds its true values.
// CPU twin: cka::centre_columns / rsa::centre_rows, then cka::linear_gram.
//
// Work per call, k examples of p features: k^2 p multiply-adds (cuBLAS: the full (k, k)
// product, TF32 tensor cores in GramPrecision::tf32), and 4 k p f32 reads or writes: one
// statistics pass over the whole layer (per-column or per-row sums, constant flags and the
// largest magnitude together: column_centring.h, rsa_cuda::row_shifts), then per block one
// read of its columns and one write of the centred block, and cuBLAS's read of it; plus per
// block about k^2 / 2 f32 reads and k^2 f64 writes (and reads, after the first) for the f64 sum.
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
  // when x holds a NaN or infinity (left alone otherwise).
  void compute(const DeviceFeatureView& x, Centring centring, double* gram, int32_t* nonfinite);
  // Queues: out (k, p) f32 row-major = x's columns centred and range-scaled, the values
  // compute() multiplies (the twin of cka::centre_columns' f32 output; its scale is
  // kernels::range_scale of x's largest magnitude); *nonfinite = 1 when x holds a NaN or
  // infinity (left alone otherwise). Two passes over x: the statistics and the centring.
  void centre_columns(const DeviceFeatureView& x, float* out, int32_t* nonfinite);
  // Frees the buffers (the next call makes them again).
  void release();

 private:
  // The statistics of Centring::columns into sums_, constant_ and bits_, then shift_ (p).
  void column_shifts(const DeviceFeatureView& x, int32_t* nonfinite);

  CudaContext& context_;
  GramPrecision precision_;
  Tensor block_;     // (k, w) f32: one centred block of w <= kGramBlock feature columns
  Tensor partial_;   // (k, k) f32: that block's products
  Tensor shift_;     // (p) f32 column shifts (Centring::columns) or (k) row shifts (rows)
  Tensor sums_;      // (S, p) f64: per row slice and column, the sum (cka_cuda::column_statistics)
  Tensor constant_;  // (S, p) u8: per row slice and column, 1 when every value equals the first
  Tensor bits_;      // (1) i32 holding the u32 bits of the largest magnitude
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
