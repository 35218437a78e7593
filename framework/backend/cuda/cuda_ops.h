// The CUDA functions written so far; each has the signature of its Backend slot and a CPU
// twin in backend/cpu with a parity test in tests/test_cuda_parity.cpp.
#pragma once

#include "framework/backend/backend.h"

namespace convlab::backend_cuda {

void fill(Tensor& t, double value);
void axpy(double alpha, const Tensor& x, Tensor& y);
void relu_forward(const Tensor& x, Tensor& y);
void relu_backward(const Tensor& y, const Tensor& grad_y, Tensor& grad_x);
void dropout_forward(const Tensor& x, double p, RandomKey key, Tensor& y);
void dropout_backward(const Tensor& grad_y, double p, RandomKey key, Tensor& grad_x);

}  // namespace convlab::backend_cuda
