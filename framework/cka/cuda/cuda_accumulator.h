// Minibatch CKA on a CUDA device: the same estimators, kernels, batching rules and result as
// CkaAccumulator (../accumulator.h), for features that a model on the GPU produced and that
// stay there. Only one batch of features is read at a time, and only (R, R) numbers come back.
//
// Per batch of k examples, for each layer (one row of G (R, k^2) f64 on the device):
//   1. blocks of kGramBlock feature columns are centred (f64 column sums) and multiplied by
//      cuBLAS into an f32 (k, k) product, added into the layer's f64 Gram block by block;
//   2. RBF: squared distances of the pairs i < j, their median from a device sort, exp();
//   3. the Gram is centred for the estimator in one fused pass after a sums pass (U-centred
//      for debiased, HKH for biased), in place in its row of G;
// then one DGEMM adds G G^T, times the estimator's normaliser, to the (R, R) f64 sum.
// result() copies the (R, R) sum to the host and ends as the CPU does (LayerPairs::cka).
//
// Precision: G, the centring and the HSIC sums are f64 as on the CPU (centring subtracts
// means of sums of up to 1e5 products; G is R k^2 doubles, e.g. 160 MB for 20 layers at
// k = 1000). Only the Gram products are f32: GramPrecision::fp32 sums each block of up to
// 2048 features in f32 FMA, as the CPU's ssyrk does; GramPrecision::tf32 lets tensor cores
// round the operands to 10 mantissa bits first (blocks of fewer than kTf32MinColumns features
// stay fp32). tests/test_cka_cuda.cpp holds CKA to 1e-4 of a float64 CPU reference with
// TF32 and to 1e-6 in fp32.
//
// Work is queued on the context's stream; add_batch waits once per batch, for R flags that
// say whether a layer held a NaN or infinity (so that it can throw before the sum is touched).
// The context must outlive the accumulator.
#pragma once

#include <cublas_v2.h>

#include <cstdint>
#include <vector>

#include "framework/cka/cuda/device_features.h"
#include "framework/cka/layer_pairs.h"
#include "framework/cka/options.h"
#include "framework/core/tensor.h"

namespace convlab {
class CudaContext;
}

namespace convlab::cka {

enum class GramPrecision {
  tf32,  // TF32 tensor cores for the Gram products (fast; CKA within 1e-4 of float64)
  fp32,  // fp32 FMA only (CKA within 1e-6 of float64)
};

// Blocks of fewer feature columns than this use fp32 even in TF32 mode: they gain nothing
// from tensor cores, and a product of few terms keeps more of the operands' rounding.
inline constexpr int64_t kTf32MinColumns = 256;

class CudaCkaAccumulator {
 public:
  // Network A against itself: feed add_batch(a); result() is (L, L).
  CudaCkaAccumulator(CudaContext& context, int64_t layers, Options options, GramPrecision precision);
  // L layers of network A against M layers of network B: feed add_batch(a, b); result() is (L, M).
  CudaCkaAccumulator(CudaContext& context, int64_t layers_a, int64_t layers_b, Options options,
                     GramPrecision precision);
  ~CudaCkaAccumulator();
  CudaCkaAccumulator(const CudaCkaAccumulator&) = delete;
  CudaCkaAccumulator& operator=(const CudaCkaAccumulator&) = delete;

  // One batch: the features of the same k examples at every layer, on this context's device.
  // Throws, without adding the batch, for NaN or infinite features.
  void add_batch(const std::vector<DeviceFeatureView>& a);
  void add_batch(const std::vector<DeviceFeatureView>& a, const std::vector<DeviceFeatureView>& b);

  // As CkaAccumulator::result() and mean_hsic(): (L, M) CKA and (R, R) mean HSIC, row-major.
  std::vector<double> result() const;
  std::vector<double> mean_hsic() const;

  int64_t layers_a() const { return pairs_.layers_a(); }
  int64_t layers_b() const { return pairs_.layers_b(); }
  bool self() const { return pairs_.self(); }
  int64_t batches() const { return batches_; }
  int64_t examples() const { return examples_; }
  const Options& options() const { return options_; }
  GramPrecision precision() const { return precision_; }

 private:
  // The zeroed HSIC sum and the cuBLAS handle, for both constructors.
  void start();
  void accumulate(const std::vector<const DeviceFeatureView*>& layers);
  // The layer's linear Gram (k, k) f64 of its column-centred features, into gram.
  void linear_gram(const DeviceFeatureView& x, double* gram, int32_t* nonfinite);
  Device device() const;

  CudaContext& context_;
  Options options_;
  GramPrecision precision_;
  LayerPairs pairs_;
  int64_t batches_ = 0;
  int64_t examples_ = 0;
  cublasHandle_t blas_ = nullptr;
  // Device buffers, grown on demand and reused across batches (k may change).
  Tensor hsic_sum_;   // (R, R) f64, column-major as cuBLAS writes it
  Tensor grams_;      // G (R, k^2) f64
  Tensor block_;      // (k, w) f32: one centred block of w <= kGramBlock feature columns
  Tensor partial_;    // (k, k) f32: that block's products
  Tensor centring_;   // (3k + 4) f64: sums for the Gram centring
  Tensor rbf_;        // u8: distances, sort and width for the RBF kernel
  Tensor nonfinite_;  // (R) i32: 1 for a layer with a NaN or infinite feature in this batch
};

}  // namespace convlab::cka
