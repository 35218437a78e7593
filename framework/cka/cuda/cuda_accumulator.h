// Minibatch CKA on a CUDA device: the same estimators, kernels, batching rules and result as
// CkaAccumulator (../accumulator.h), for features that a model on the GPU produced and that
// stay there. Only one batch of features is read at a time, and only (R, R) numbers per
// kernel come back per batch.
//
// Per batch of k examples, for each layer:
//   1. its linear Gram (DeviceGram: column-centred, range-scaled f32 blocks by cuBLAS, summed
//      in f64), once for all kernels; with any RBF kernel, the median, smallest nonzero and
//      largest of its pairs' squared distances, also once (rbf_gram.h: a radix select);
//   2. per kernel, that kernel's row of G (R, k^2) f64: a copy of the linear Gram, or the RBF
//      Gram written from it in one pass;
//   3. the row centred for the estimator in one fused pass after a sums pass (U-centred for
//      debiased, HKH for biased);
// then per kernel the batch's (R, R) HSIC terms, G G^T times the estimator's normaliser, from
// DGEMMs over chunks of the k^2 columns summed in a fixed order (row_products.h). One copy per
// batch brings them to the host with R flags that say whether a layer held a NaN or infinity
// and, per RBF kernel, each layer's smallest and largest distance and whether its centred Gram
// was rounding, so that it can throw before the terms are kept (for a width that makes the
// kernel flat, rbf_width.h, as the CPU does); the host keeps them as stats::BatchTerms weighted
// by k and ends as the CPU does (LayerPairs::cka).
//
// Precision: G, the centring and the HSIC terms are f64 as on the CPU (centring subtracts
// means of sums of up to 1e5 products; G is R k^2 doubles, e.g. 160 MB for 20 layers at
// k = 1000). Only the Gram products are f32: GramPrecision::fp32 sums each block of up to
// 2048 features in f32 FMA, as the CPU's ssyrk does; GramPrecision::tf32 lets tensor cores
// round the operands to 10 mantissa bits first (blocks of fewer than kTf32MinColumns features
// stay fp32). tests/test_cka_cuda.cpp holds CKA to 1e-4 of a float64 CPU reference with
// TF32 and to 1e-6 in fp32.
//
// Cost per batch (R layers of p_l features): sum_l k^2 p_l multiply-adds for the Grams, about
// 5 k p_l f32 passes over the features; per layer with RBF kernels, 6 or 7 reads of the upper
// triangle (k^2 / 2 doubles) for the median; per kernel and layer, a write of k^2 doubles
// (RBF: and a read of the linear Gram) and the centring's passes; per kernel, a read of G
// (R k^2 doubles) for the (R, R) product. Scratch beyond G: the linear Gram (k^2 doubles), the
// RBF select's 8 k bytes + 8.25 KiB, and about 2 x SMs x R^2 doubles for the product's partials.
//
// The context must outlive the accumulator.
#pragma once

#include <cublas_v2.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "framework/cka/cuda/device_features.h"
#include "framework/cka/cuda/device_gram.h"
#include "framework/cka/layer_pairs.h"
#include "framework/cka/options.h"
#include "framework/core/tensor.h"
#include "framework/stats/batch_terms.h"

namespace convlab {
class CudaContext;
}

namespace convlab::cka {

class CudaCkaAccumulator {
 public:
  // Network A against itself: feed add_batch(a); result() is (L, L).
  CudaCkaAccumulator(CudaContext& context, int64_t layers, Options options, GramPrecision precision);
  // L layers of network A against M layers of network B: feed add_batch(a, b); result() is (L, M).
  CudaCkaAccumulator(CudaContext& context, int64_t layers_a, int64_t layers_b, Options options,
                     GramPrecision precision);
  // Several kernels at once, each layer's linear Gram computed once per batch for all of them.
  // layers_b 0: A against itself.
  CudaCkaAccumulator(CudaContext& context, int64_t layers_a, int64_t layers_b, std::vector<Kernel> kernels,
                     Estimator estimator, GramPrecision precision);
  ~CudaCkaAccumulator();
  CudaCkaAccumulator(const CudaCkaAccumulator&) = delete;
  CudaCkaAccumulator& operator=(const CudaCkaAccumulator&) = delete;

  // One batch: the features of the same k examples at every layer, on this context's device.
  // Throws, without adding the batch, for NaN or infinite features.
  void add_batch(const std::vector<DeviceFeatureView>& a);
  void add_batch(const std::vector<DeviceFeatureView>& a, const std::vector<DeviceFeatureView>& b);

  // As CkaAccumulator's: (L, M) CKA, (R, R) weighted mean HSIC and the per-batch terms.
  std::vector<double> result(size_t kernel = 0) const;
  std::vector<double> mean_hsic(size_t kernel = 0) const { return terms_[kernel].weighted_mean(); }
  const stats::BatchTerms& terms(size_t kernel = 0) const { return terms_[kernel]; }
  const LayerPairs& pairs() const { return pairs_; }

  int64_t layers_a() const { return pairs_.layers_a(); }
  int64_t layers_b() const { return pairs_.layers_b(); }
  bool self() const { return pairs_.self(); }
  int64_t batches() const { return terms_.front().batches(); }
  int64_t examples() const { return examples_; }
  const std::vector<Kernel>& kernels() const { return kernels_; }
  Options options(size_t kernel = 0) const { return {kernels_[kernel], estimator_}; }
  GramPrecision precision() const { return precision_; }
  int64_t linear_grams() const { return linear_grams_; }
  // Frees the per-batch device buffers (the next batch makes them again).
  void release_workspace();

 private:
  void accumulate(const std::vector<const DeviceFeatureView*>& layers);
  Device device() const;

  CudaContext& context_;
  std::vector<Kernel> kernels_;
  Estimator estimator_;
  GramPrecision precision_;
  LayerPairs pairs_;
  int64_t examples_ = 0;
  int64_t linear_grams_ = 0;
  std::vector<stats::BatchTerms> terms_;  // per kernel: (R, R) per batch
  std::unique_ptr<DeviceGram> gram_;
  // Device buffers, grown on demand and reused across batches (k may change).
  std::vector<Tensor> grams_;  // per kernel: G (R, k^2) f64
  Tensor linear_;              // (k, k) f64: one layer's linear Gram
  Tensor hsic_;                // what comes back per batch: terms, RBF spreads, flags (accumulate())
  Tensor centring_;            // (3k + 4) f64: sums for the Gram centring
  Tensor rbf_;                 // u8: the RBF select's scratch, then the layer's distance stats
  Tensor products_;            // f64: the (R, R) partial products of G G^T (row_products.h)
};

}  // namespace convlab::cka
