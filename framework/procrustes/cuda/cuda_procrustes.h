// Minibatch Procrustes distance on a CUDA device: the same factors, forms, estimator and
// result as procrustes::ProcrustesAccumulator (../procrustes.h), for features that stay on
// the GPU. Per batch of k examples:
//   - each layer's factor F (k, r) f64: the feature form (p <= k) centres its columns
//     (cka::DeviceGram::centre_columns) and scales to unit Frobenius norm; the Gram form takes
//     the column-centred Gram (cka::DeviceGram), divides it by its trace and factors it with
//     cuSOLVER's Xsyevd (eigenvectors), F = U sqrt(Lambda);
//   - each pair (i < j in self mode): C = F_i^T F_j (DGEMM), the smaller of C C^T and C^T C
//     (DSYRK), its eigenvalues (Xsyevd, values only) and sum sqrt(lambda) on the device; the
//     diagonal of a self comparison is ||F||_F^2;
// then one copy of the (L, M) nuclear norms, the layers' constant flags and cuSOLVER's info
// codes to the host, which forms the distances and keeps them (stats::BatchTerms).
//
// Cost per batch, r = min(p, k): per Gram-form layer one k x k eigendecomposition with
// vectors (about 9 k^3 flops, memory-bound tridiagonalisation) after its Gram; per pair
// 2 k r_i r_j + 2 min(r)^2 max(r) flops in DGEMM/DSYRK (FP64 tensor cores) and one
// eigendecomposition of min(r_i, r_j) without vectors (about 4/3 min(r)^3 flops). For 10
// conv layers at k = 1000 that is 45 value-only and 8 full 1000 x 1000 eigendecompositions per
// batch, which dominate: the smaller the batch, the cheaper (cost per pair ~ n k^2 in all).
#pragma once

#include <cublas_v2.h>
#include <cusolverDn.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "framework/cka/cuda/device_features.h"
#include "framework/cka/cuda/device_gram.h"
#include "framework/cka/layer_pairs.h"
#include "framework/core/tensor.h"
#include "framework/procrustes/procrustes.h"
#include "framework/stats/batch_terms.h"

namespace convlab {
class CudaContext;
}

namespace convlab::procrustes {

class CudaProcrustesAccumulator {
 public:
  // layers_b 0: network A against itself.
  CudaProcrustesAccumulator(CudaContext& context, int64_t layers_a, int64_t layers_b, cka::GramPrecision precision);
  ~CudaProcrustesAccumulator();
  CudaProcrustesAccumulator(const CudaProcrustesAccumulator&) = delete;
  CudaProcrustesAccumulator& operator=(const CudaProcrustesAccumulator&) = delete;

  void add_batch(const std::vector<cka::DeviceFeatureView>& a);
  void add_batch(const std::vector<cka::DeviceFeatureView>& a, const std::vector<cka::DeviceFeatureView>& b);

  std::vector<double> result() const { return terms_.weighted_mean(); }
  const stats::BatchTerms& terms() const { return terms_; }
  const cka::LayerPairs& pairs() const { return pairs_; }
  int64_t batches() const { return terms_.batches(); }
  const std::vector<Form>& forms() const { return forms_; }
  void release_workspace();

 private:
  void accumulate(const std::vector<const cka::DeviceFeatureView*>& layers);
  // Eigenvalues (ascending, into w) of the symmetric (n, n) column-major a, upper triangle;
  // vectors: a becomes the eigenvectors. info: a device int.
  void eigen(double* a, int64_t n, double* w, bool vectors, int* info);

  CudaContext& context_;
  cka::LayerPairs pairs_;
  stats::BatchTerms terms_;
  std::vector<Form> forms_;
  std::vector<bool> warned_;
  std::unique_ptr<cka::DeviceGram> gram_;
  std::vector<Tensor> factors_;  // per layer: F (k, r) f64 row-major
  Tensor block_;                 // (k, p) f32: the centred features of a feature-form layer
  Tensor square_;                // (k, k) f64: a Gram, then eigenvectors
  Tensor pair_;                  // C (r_i, r_j) f64
  Tensor small_;                 // (s, s) f64: C C^T or C^T C
  Tensor lambda_;                // (k) f64 eigenvalues
  Tensor work_;                  // u8: cuSOLVER's device workspace
  std::vector<char> host_work_;  // cuSOLVER's host workspace
  Tensor back_;                  // (L, M) f64 nuclear norms, then one slot, then i32 flags and info codes
};

}  // namespace convlab::procrustes
