// How tests compare tensors across devices, dtypes and formats: every function reads its
// operands as logical float64 values on the CPU.
#pragma once

#include "framework/core/tensor.h"

namespace convlab::test_support {

// The values of t, any device, dtype (f32, f64, bf16) and format, as a contiguous CPU f64 tensor.
Tensor as_f64(const Tensor& t);

// max |got - ref| / max |ref| (or the absolute error when ref is all zeros); infinity when
// NaN appears on one side only.
double max_relative_error(const Tensor& ref, const Tensor& got);

// ||got - ref||_2 / ||ref||_2.
double norm_relative_error(const Tensor& ref, const Tensor& got);

// The same shape, dtype, format and bytes.
bool bitwise_equal(const Tensor& a, const Tensor& b);

}  // namespace convlab::test_support
