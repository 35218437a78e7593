// The k nearest neighbours of every example of a batch within that batch, as the mutual k-NN
// and CKNNA measures of Huh et al. (2024) define them: each example's features are scaled to
// unit L2 norm (not centred), the similarity of two examples is their inner product (the
// cosine of the raw features), an example is not its own neighbour, and ties go to the lower
// example index (kernels::nearer_neighbour), exact copies of an example included
// (tie_copies). The similarities come from the float64 Gram X X^T
// (linalg::gram_f64): K_ij / sqrt(K_ii K_jj).
#pragma once

#include <cstdint>
#include <vector>

#include "framework/cka/features.h"

namespace convlab::knn {

struct Neighbours {
  int64_t n = 0, k = 0;
  std::vector<int32_t> index;      // (n, k): row i's neighbours, in ascending index order
  std::vector<double> similarity;  // (n, k): the cosine similarity of i to each of them

  const int32_t* row(int64_t i) const { return index.data() + i * k; }
  const double* row_similarity(int64_t i) const { return similarity.data() + i * k; }
  // Where j sits in row i's list, or -1 when j is not among i's neighbours.
  int64_t position(int64_t i, int64_t j) const;
};

// Calls f(p, q) for every example that row i of a and row i of b both hold, p and q its
// positions in each (both rows ascending: one merge-like pass, 2k steps at most).
template <class F>
void for_each_shared(const Neighbours& a, const Neighbours& b, int64_t i, F&& f) {
  const int32_t *x = a.row(i), *y = b.row(i);
  int64_t p = 0, q = 0;
  while (p < a.k && q < b.k) {
    if (x[p] == y[q]) {
      f(p, q);
      ++p;
      ++q;
    } else if (x[p] < y[q]) {
      ++p;
    } else {
      ++q;
    }
  }
}

// Needs 1 <= k < n. Throws, naming the layer, for NaN or infinite features.
Neighbours nearest_neighbours(const cka::FeatureView& x, int64_t k);

// The same from a raw (uncentred) float64 Gram (n, n).
Neighbours neighbours_from_gram(const std::vector<double>& gram, int64_t n, int64_t k);

// The neighbours of the same layer with its examples reordered, row i of the permuted layer
// being example perm[i] (inverse: perm's inverse): row i is row perm[i] relabelled. Ties keep
// the choice made in the original order.
Neighbours permuted_neighbours(const Neighbours& b, const std::vector<int32_t>& perm,
                               const std::vector<int32_t>& inverse);

// Makes exact copies of an example exactly tied: BLAS rounds the Gram entries of two equal
// rows differently (they fall in different tiles), which would let rounding, not the lower
// index, choose between them. Each example i with first[i] != i (linalg::first_copies) gets
// that example's row and column of `gram` (n, n).
void tie_copies(const std::vector<int64_t>& first, std::vector<double>& gram);

}  // namespace convlab::knn
