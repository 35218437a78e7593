// Eigenvalues (and eigenvectors) of real symmetric matrices, by LAPACK's divide-and-conquer
// dsyevd (OpenBLAS's LAPACK, through LAPACKE). The CUDA twin is cuSOLVER's Xsyevd.
#pragma once

#include <cstdint>
#include <vector>

namespace convlab::linalg {

// The n eigenvalues of the symmetric (n, n) row-major matrix a, in ascending order. Only the
// upper triangle is read. a is overwritten (LAPACK's workspace). Throws if LAPACK fails.
std::vector<double> symmetric_eigenvalues(std::vector<double>& a, int64_t n);

// The same, with the eigenvectors: on return column j of a (row-major, a[i * n + j]) is the
// unit eigenvector of eigenvalue j.
std::vector<double> symmetric_eigen(std::vector<double>& a, int64_t n);

}  // namespace convlab::linalg
