// The per-pair products of SVCCA, PWCCA and linear predictivity: the costly part of their
// pair terms (k dx dy and k^3 multiply-adds per pair of layers, against k log k for the
// neighbour measures). Each batch, every row's float64 matrix is set once (a layer's kept
// principal directions, its ridge residual operator or its target Gram); the pairs then read
// them, and the measures turn the small results into values on the host. Where the matrices
// live decides where the products run: HostPairProducts (BLAS, below) or DevicePairProducts
// (cuBLAS, cuda/device_pair_products.h), behind the same calls.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

namespace convlab::linalg {

// C = A^T B of row-major A (n, dx) and B (n, dy); returns C C^T (dx, dx) when `left`, else
// C^T C (dy, dy), row-major, its upper triangle filled (what LAPACK's symmetric solvers read).
std::vector<double> cross_gram(const double* a, const double* b, int64_t n, int64_t dx, int64_t dy, bool left);
// (n): the diagonal of M L M for symmetric (n, n) M and L, (M L M)_ii = sum_j (M L)_ij M_ij.
std::vector<double> sandwich_diagonal(const double* m, const double* l, int64_t n);

class PairProducts {
 public:
  // The matrix `slot` holds this batch in one of an implementation's maps (slot -> matrix;
  // `permuted`: the map of permuted copies), or an error naming it.
  template <class Map>
  static const typename Map::mapped_type& slot_matrix(const Map& map, int64_t slot, bool permuted) {
    const auto it = map.find(slot);
    if (it == map.end()) missing(slot, permuted);
    return it->second;
  }

  virtual ~PairProducts() = default;
  // Slot `slot`'s (rows, cols) row-major matrix for this batch (moved in: the caller keeps
  // what it still needs of it).
  virtual void set(int64_t slot, std::vector<double> m, int64_t rows, int64_t cols) = 0;
  // Beside it, its copy with the batch's examples reordered: row i of the copy is row perm[i]
  // (`both_axes`, for a square Gram: entry (i, j) is (perm i, perm j)).
  virtual void set_permuted(int64_t slot, const std::vector<int32_t>& perm, bool both_axes) = 0;
  // cross_gram of slots a and b (b's permuted copy when `permuted_b`).
  virtual std::vector<double> cross_gram(int64_t a, int64_t b, bool permuted_b, bool left) = 0;
  // sandwich_diagonal of slot a (M) and slot b (L; its permuted copy when `permuted_b`).
  virtual std::vector<double> sandwich_diagonal(int64_t a, int64_t b, bool permuted_b) = 0;
  // Forgets the batch's matrices.
  virtual void clear() = 0;
  // "cpu fp64" or "cuda fp64", for summary.json.
  virtual const char* where() const = 0;

 private:
  [[noreturn]] static void missing(int64_t slot, bool permuted);
};

class HostPairProducts final : public PairProducts {
 public:
  void set(int64_t slot, std::vector<double> m, int64_t rows, int64_t cols) override;
  void set_permuted(int64_t slot, const std::vector<int32_t>& perm, bool both_axes) override;
  std::vector<double> cross_gram(int64_t a, int64_t b, bool permuted_b, bool left) override;
  std::vector<double> sandwich_diagonal(int64_t a, int64_t b, bool permuted_b) override;
  void clear() override;
  const char* where() const override { return "cpu fp64"; }

 private:
  struct Matrix {
    std::vector<double> values;
    int64_t rows = 0, cols = 0;
  };
  const Matrix& at(int64_t slot, bool permuted) const {
    return slot_matrix(permuted ? permuted_ : matrices_, slot, permuted);
  }
  std::map<int64_t, Matrix> matrices_, permuted_;
};

}  // namespace convlab::linalg
