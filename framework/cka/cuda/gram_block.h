// Adding the products of one block of feature columns, as cuBLAS wrote them in f32, into the
// f64 Gram. Summing the blocks in f64 keeps the f32 rounding at the size of one block's sum,
// not the layer width's (1e5 features).
// CPU twin: the block loop of linear_gram (framework/cka/gram.cpp).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace convlab::cka_cuda {

// Queues on `stream`: gram (n, n) f64, row-major, = (first_block) or += (otherwise) the
// partial products (n, n) f32, column-major. Only the partial's upper triangle (row <= column)
// is read, and entry (i, j) and (j, i) of gram both take it, so gram is exactly symmetric.
void add_gram_block(const float* partial, int64_t n, bool first_block, double* gram, cudaStream_t stream);

}  // namespace convlab::cka_cuda
