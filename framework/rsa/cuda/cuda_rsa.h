// Minibatch RSA on a CUDA device: the same estimator and result as rsa::RsaAccumulator
// (../rsa.h), for features that stay on the GPU. Per batch of k examples, for each of the R
// layers: the row-centred Gram (cka::DeviceGram, Centring::rows), the RDM's upper triangle
// (m = k (k - 1) / 2 distances), a device radix sort of it and the average ranks of its runs
// of ties into row i of Z (R, m) f64 (rdm_ranks.h); then Z Z^T (cka_cuda::
// symmetric_row_products: DGEMMs over chunks of m, summed in a fixed order), and one copy of
// (R, R) numbers and R counts to the host, where the per-batch Spearman correlations are
// formed and kept (stats::BatchTerms).
//
// Cost per batch: the Grams' k^2 p multiply-adds per layer (as CKA's), R sorts of m
// (double, int) pairs (about 28 m bytes of scratch) and about 56 m bytes of reads and writes
// for the ranks per layer, and a read of Z for the (R, R) product. Z is R m doubles (40 MB
// for 10 layers at k = 1000).
#pragma once

#include <cublas_v2.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "framework/cka/cuda/device_features.h"
#include "framework/cka/cuda/device_gram.h"
#include "framework/cka/layer_pairs.h"
#include "framework/core/tensor.h"
#include "framework/stats/batch_terms.h"

namespace convlab {
class CudaContext;
}

namespace convlab::rsa {

class CudaRsaAccumulator {
 public:
  // layers_b 0: network A against itself.
  CudaRsaAccumulator(CudaContext& context, int64_t layers_a, int64_t layers_b, cka::GramPrecision precision);
  ~CudaRsaAccumulator();
  CudaRsaAccumulator(const CudaRsaAccumulator&) = delete;
  CudaRsaAccumulator& operator=(const CudaRsaAccumulator&) = delete;

  void add_batch(const std::vector<cka::DeviceFeatureView>& a);
  void add_batch(const std::vector<cka::DeviceFeatureView>& a, const std::vector<cka::DeviceFeatureView>& b);

  std::vector<double> result() const { return terms_.weighted_mean(); }
  const stats::BatchTerms& terms() const { return terms_; }
  const cka::LayerPairs& pairs() const { return pairs_; }
  int64_t batches() const { return terms_.batches(); }
  void release_workspace();

 private:
  void accumulate(const std::vector<const cka::DeviceFeatureView*>& layers);

  CudaContext& context_;
  cka::LayerPairs pairs_;
  stats::BatchTerms terms_;
  int64_t examples_ = 0;
  std::vector<bool> warned_examples_, warned_constant_;
  std::unique_ptr<cka::DeviceGram> gram_;
  Tensor gram_buffer_;  // (k, k) f64
  Tensor distances_;    // (m) f64
  Tensor ranks_;        // Z (R, m) f64
  Tensor sort_;         // u8: the sort's scratch
  Tensor products_;     // f64: the (R, R) partial products of Z Z^T (row_products.h)
  Tensor back_;         // (R, R) f64, then 2R i32 (non-finite flags, constant examples)
};

}  // namespace convlab::rsa
