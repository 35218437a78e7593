// Test data and references shared by the tests of mutual k-NN, CKNNA, SVCCA, PWCCA and linear
// predictivity (test_knn_measures.cpp, test_cca_ridge_measures.cpp, test_pair_measures.cpp):
// related and decaying features, row slices, and brute-force cosines and neighbour rankings.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tests/support/dense_matrix.h"

namespace convlab::test_support {

// Whether text holds part.
bool contains(const std::string& text, const std::string& part);

// Rows [first, first + count) of a (n, p) matrix.
Matrix rows_of(const Matrix& x, int64_t p, int64_t first, int64_t count);

// Y = tanh(X W) + noise: related to X, not a linear map of it.
Matrix related(const Matrix& x, int64_t n, int64_t p, int64_t q, uint64_t seed, double noise = 0.3);

// Gaussian features whose columns have variances falling from 1 to about 1e-4, so that a
// reduction to 99% of the variance leaves some directions out.
Matrix decaying(int64_t n, int64_t p, uint64_t seed);

// The cosine of every pair of examples, summed here in long double from the features.
std::vector<double> reference_cosines(const Matrix& x, int64_t n, int64_t p);

// Row i's candidates j != i, nearest first (larger cosine, then lower index).
std::vector<int32_t> ranked(const std::vector<double>& cosine, int64_t n, int64_t i);

// The smallest gap, over every row, between the k-th and (k+1)-th nearest cosines: where it
// is far above rounding (1e-15), rounding cannot change which examples are the k nearest.
double smallest_boundary_gap(const std::vector<double>& cosine, int64_t n, int64_t k);

}  // namespace convlab::test_support
