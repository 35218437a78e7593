// CONVLAB_HD marks per-element math that both backends run: the CPU backend calls it from
// plain C++, the CUDA kernels call it on the device. Without nvcc the macro is empty.
#pragma once

#if defined(__CUDACC__)
#define CONVLAB_HD __host__ __device__ __forceinline__
#else
#define CONVLAB_HD inline
#endif
