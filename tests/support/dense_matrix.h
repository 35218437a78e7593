// Small row-major float64 matrices for the similarity tests' references: random draws and the
// few products the definitions need, written plainly so that a reference is easy to trust.
#pragma once

#include <cstdint>
#include <vector>

namespace convlab::test_support {

using Matrix = std::vector<double>;  // row-major

// (rows, cols) standard normal draws, the same for the same seed on every machine.
Matrix random_normal(int64_t rows, int64_t cols, uint64_t seed);
// a (n, k) times b (k, m).
Matrix matmul(const Matrix& a, const Matrix& b, int64_t n, int64_t k, int64_t m);
// a (rows, cols) transposed to (cols, rows).
Matrix transpose(const Matrix& a, int64_t rows, int64_t cols);
// A random orthogonal (p, p) matrix: Gram-Schmidt on the columns of a Gaussian matrix.
Matrix random_orthogonal(int64_t p, uint64_t seed);

}  // namespace convlab::test_support
