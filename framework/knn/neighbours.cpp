#include "framework/knn/neighbours.h"

#include <algorithm>
#include <numeric>

#include "framework/core/error.h"
#include "framework/linalg/first_copies.h"
#include "framework/linalg/gram_f64.h"
#include "kernels/knn.h"

namespace convlab::knn {

int64_t Neighbours::position(int64_t i, int64_t j) const {
  const int32_t* first = row(i);
  const int32_t* last = first + k;
  const int32_t* at = std::lower_bound(first, last, static_cast<int32_t>(j));
  return at != last && *at == j ? at - first : -1;
}

Neighbours neighbours_from_gram(const std::vector<double>& gram, int64_t n, int64_t k) {
  CONVLAB_CHECK(k >= 1 && k < n, "{} nearest neighbours need more than {} examples per batch, got {}", k, k, n);
  CONVLAB_CHECK(n <= INT32_MAX && static_cast<int64_t>(gram.size()) == n * n, "a Gram of {} examples needs {} values",
                n, n * n);
  Neighbours out;
  out.n = n;
  out.k = k;
  out.index.resize(static_cast<size_t>(n * k));
  out.similarity.resize(static_cast<size_t>(n * k));
#pragma omp parallel
  {
    std::vector<int32_t> candidates(static_cast<size_t>(n - 1));
    std::vector<double> cosine(static_cast<size_t>(n));
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      const double g_ii = gram[static_cast<size_t>(i * n + i)];
      for (int64_t j = 0; j < n; ++j)
        cosine[static_cast<size_t>(j)] =
            kernels::cosine_similarity(gram[static_cast<size_t>(i * n + j)], g_ii, gram[static_cast<size_t>(j * n + j)]);
      int64_t c = 0;
      for (int64_t j = 0; j < n; ++j)
        if (j != i) candidates[static_cast<size_t>(c++)] = static_cast<int32_t>(j);
      const auto nearer = [&](int32_t a, int32_t b) {
        return kernels::nearer_neighbour(cosine[static_cast<size_t>(a)], a, cosine[static_cast<size_t>(b)], b);
      };
      std::nth_element(candidates.begin(), candidates.begin() + (k - 1), candidates.end(), nearer);
      std::sort(candidates.begin(), candidates.begin() + k);  // the k nearest, by index
      for (int64_t m = 0; m < k; ++m) {
        const int32_t j = candidates[static_cast<size_t>(m)];
        out.index[static_cast<size_t>(i * k + m)] = j;
        out.similarity[static_cast<size_t>(i * k + m)] = cosine[static_cast<size_t>(j)];
      }
    }
  }
  return out;
}

Neighbours permuted_neighbours(const Neighbours& b, const std::vector<int32_t>& perm,
                               const std::vector<int32_t>& inverse) {
  Neighbours out;
  out.n = b.n;
  out.k = b.k;
  out.index.resize(b.index.size());
  out.similarity.resize(b.similarity.size());
  std::vector<std::pair<int32_t, double>> row(static_cast<size_t>(b.k));
  for (int64_t i = 0; i < b.n; ++i) {
    const int64_t from = perm[static_cast<size_t>(i)];
    for (int64_t m = 0; m < b.k; ++m)
      row[static_cast<size_t>(m)] = {inverse[static_cast<size_t>(b.row(from)[m])], b.row_similarity(from)[m]};
    std::sort(row.begin(), row.end());
    for (int64_t m = 0; m < b.k; ++m) {
      out.index[static_cast<size_t>(i * b.k + m)] = row[static_cast<size_t>(m)].first;
      out.similarity[static_cast<size_t>(i * b.k + m)] = row[static_cast<size_t>(m)].second;
    }
  }
  return out;
}

void tie_copies(const std::vector<int64_t>& first, std::vector<double>& gram) {
  const int64_t n = static_cast<int64_t>(first.size());
  CONVLAB_CHECK(static_cast<int64_t>(gram.size()) == n * n, "a Gram of {} examples needs {} values, got {}", n, n * n,
                gram.size());
  for (int64_t i = 0; i < n; ++i) {
    const int64_t f = first[static_cast<size_t>(i)];
    if (f == i) continue;
    for (int64_t j = 0; j < n; ++j) {
      gram[static_cast<size_t>(i * n + j)] = gram[static_cast<size_t>(f * n + j)];
      gram[static_cast<size_t>(j * n + i)] = gram[static_cast<size_t>(j * n + f)];
    }
    gram[static_cast<size_t>(i * n + i)] = gram[static_cast<size_t>(f * n + f)];
    gram[static_cast<size_t>(i * n + f)] = gram[static_cast<size_t>(f * n + f)];
    gram[static_cast<size_t>(f * n + i)] = gram[static_cast<size_t>(f * n + f)];
  }
}

Neighbours nearest_neighbours(const cka::FeatureView& x, int64_t k) {
  CONVLAB_CHECK(k >= 1 && k < x.rows(), "{} nearest neighbours need more than {} examples per batch, got {}", k, k,
                x.rows());
  std::vector<double> gram = linalg::gram_f64(x, linalg::Centring::none);
  tie_copies(linalg::first_copies(x), gram);
  return neighbours_from_gram(gram, x.rows(), k);
}

}  // namespace convlab::knn
