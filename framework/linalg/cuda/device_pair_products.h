// The CUDA twin of linalg::HostPairProducts (../pair_products.h): the per-pair products of
// SVCCA, PWCCA and linear predictivity with the layers' matrices held on the GPU. Per batch
// each row's matrix (a kept basis (k, d), or a (k, k) residual operator or target Gram) is
// uploaded once, B's permuted copies are gathered there, and per pair:
//   cross_gram         C = A^T B by DGEMM (k dx dy), then C C^T or C^T C by DSYRK; the (s, s)
//                      result comes back to the host, whose LAPACK finds its eigenvalues
//                      (s <= d: small beside the product);
//   sandwich_diagonal  M L by DSYMM (k^3), then diag(M L M) by one warp per row; k values
//                      come back.
// Everything is float64 (FP64 tensor cores in cuBLAS); the values are read on the host by the
// same code as the CPU's. The uploads and the small copies back wait for the stream.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "framework/core/tensor.h"
#include "framework/linalg/pair_products.h"

namespace convlab {
class CudaContext;
}

namespace convlab::linalg {

class DevicePairProducts final : public PairProducts {
 public:
  // Runs on the context's stream with its cuBLAS handle; the context must outlive this.
  explicit DevicePairProducts(CudaContext& context);

  void set(int64_t slot, std::vector<double> m, int64_t rows, int64_t cols) override;
  void set_permuted(int64_t slot, const std::vector<int32_t>& perm, bool both_axes) override;
  std::vector<double> cross_gram(int64_t a, int64_t b, bool permuted_b, bool left) override;
  std::vector<double> sandwich_diagonal(int64_t a, int64_t b, bool permuted_b) override;
  void clear() override;
  const char* where() const override { return "cuda fp64"; }

 private:
  struct Matrix {
    Tensor values;  // (rows, cols) f64 row-major
    int64_t rows = 0, cols = 0;
  };
  const Matrix& at(int64_t slot, bool permuted) const {
    return slot_matrix(permuted ? permuted_ : matrices_, slot, permuted);
  }

  CudaContext& context_;
  std::map<int64_t, Matrix> matrices_, permuted_;
  Tensor perm_;     // (k) i32: the permutation being applied
  Tensor product_;  // C (dx, dy), or M L (k, k)
  Tensor gram_;     // (s, s): C C^T or C^T C
  Tensor squares_;  // (k): diag(M L M)
};

}  // namespace convlab::linalg
