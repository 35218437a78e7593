// The last step of every deterministic reduction of the backend: the first kernel of an op
// leaves one double partial sum per block; finish_sum adds them in a fixed order and writes
// float(total / divisor) to out[0], all on the stream.
#pragma once

#include <cuda_runtime.h>

namespace convlab::backend_cuda {

void finish_sum(const double* partials, int count, double divisor, float* out, cudaStream_t stream);

}  // namespace convlab::backend_cuda
