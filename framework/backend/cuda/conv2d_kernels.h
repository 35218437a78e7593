// The small kernels around the cuDNN convolution (conv2d_kernels.cu), for conv2d.cpp:
// padding the input where cuDNN's symmetric padding cannot express the geometry, cropping
// the input gradient back, and adding the bias. All queue on `stream` and return at once.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace convlab::backend_cuda {

// x (images, h, w) -> out (images, padded_h, padded_w): x placed at (top, left), zeros around.
void pad_images(const float* x, int64_t images, int64_t h, int64_t w, int64_t top, int64_t left, int64_t padded_h,
                int64_t padded_w, float* out, cudaStream_t stream);

// padded (images, padded_h, padded_w) -> out (images, h, w): the window at (top, left).
void crop_images(const float* padded, int64_t images, int64_t padded_h, int64_t padded_w, int64_t top, int64_t left,
                 int64_t h, int64_t w, float* out, cudaStream_t stream);

// y (N, K, plane) += bias (K) per channel.
void add_channel_bias(float* y, const float* bias, int64_t batch, int64_t channels, int64_t plane,
                      cudaStream_t stream);

}  // namespace convlab::backend_cuda
