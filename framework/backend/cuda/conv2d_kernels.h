// The small kernels around the cuDNN convolution (conv2d_kernels.cu), for conv2d.cpp and
// linear.cpp: padding the input where cuDNN's legacy symmetric padding cannot express the
// geometry, cropping the input gradient back, and adding the bias (in place, or from an
// f32 convolution result into the output's storage). Tensors are f32 or bf16
// in either memory format; all queue on `stream` and return at once.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "framework/core/tensor.h"

namespace convlab::backend_cuda {

// x (N, C, H, W) -> padded (N, C, PH, PW), same dtype and format: x placed at (top, left),
// zeros around.
void pad_images(const Tensor& x, int64_t top, int64_t left, Tensor& padded, cudaStream_t stream);

// padded (N, C, PH, PW) -> out (N, C, H, W): the window at (top, left).
void crop_images(const Tensor& padded, int64_t top, int64_t left, Tensor& out, cudaStream_t stream);

// y (N, K, ...) += bias (K, f32) per channel, y f32 or bf16 in either format.
void add_channel_bias(Tensor& y, const Tensor& bias, cudaStream_t stream);

// y = conv + bias[k] per channel k, rounded once into y's storage: conv f32 (N, K, OH, OW),
// bias f32 (K), y f32 or bf16 of conv's shape and memory format (either). The CPU's
// arithmetic: the fp32 sum of the convolution and the bias, rounded once (kernels/bf16.h).
// y may be conv itself when both are f32.
void add_channel_bias_into(const Tensor& conv, const Tensor& bias, Tensor& y, cudaStream_t stream);

}  // namespace convlab::backend_cuda
