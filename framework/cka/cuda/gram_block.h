// Adding the products of one block of feature columns, as cuBLAS wrote them in f32, into the
// f64 Gram. Summing the blocks in f64 keeps the f32 rounding at the size of one block's sum,
// not the layer width's (1e5 features).
// CPU twin: the block loop of linear_gram (framework/cka/gram.cpp).
//
// Cost per call: one read of the partial's upper triangle (about n^2 / 2 f32, whole 32 x 32
// tiles), one write of the n^2 f64 Gram entries, and one read of them unless first_block;
// every access coalesced (tiles transposed through shared memory).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace convlab::cka_cuda {

// Queues on `stream`: gram (n, n) f64, row-major, = (first_block) or += (otherwise) the
// partial products (n, n) f32, column-major. Only the partial's upper triangle (row <= column)
// is read, and entry (i, j) and (j, i) of gram both take it, so gram is exactly symmetric.
// n <= kMaxGramSide (launch.h).
void add_gram_block(const float* partial, int64_t n, bool first_block, double* gram, cudaStream_t stream);

}  // namespace convlab::cka_cuda
