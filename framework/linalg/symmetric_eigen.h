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
// unit eigenvector of eigenvalue j. Throws, before any work, when n is too large for LAPACK
// (symmetric_eigen_fits).
std::vector<double> symmetric_eigen(std::vector<double>& a, int64_t n);

// Whether dsyevd with eigenvectors can take an (n, n) matrix here: its workspace query must
// return sizes that LAPACK's 32-bit integers hold. It needs 1 + 6n + 2n^2 doubles, which
// overflows them from n = 32,767 on (the query then returns a wrapped size, and a run with it
// writes out of bounds).
bool symmetric_eigen_fits(int64_t n);

}  // namespace convlab::linalg
