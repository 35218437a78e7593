// Helpers shared by the CPU backend's files.
#pragma once

#include "framework/backend/backend.h"

namespace convlab::backend_cpu {

// Calls f(T{}) with T = float or double according to `dtype`.
template <class F>
void dispatch_floating(DType dtype, const char* op, F&& f) {
  switch (dtype) {
    case DType::f32: f(float{}); return;
    case DType::f64: f(double{}); return;
    default: CONVLAB_FAIL("{}: the CPU backend takes f32 or f64, not {}", op, dtype_name(dtype));
  }
}

}  // namespace convlab::backend_cpu
