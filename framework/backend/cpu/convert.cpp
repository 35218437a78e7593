// CPU dtype and memory-format conversion.
#include <type_traits>

#include "framework/backend/cpu/cpu_ops.h"

namespace convlab::backend_cpu {
namespace {

template <class T>
float as_float(T v) {
  if constexpr (std::is_same_v<T, kernels::Bf16>) return kernels::to_float(v);
  else return static_cast<float>(v);
}

template <class Dst, class Src>
Dst convert_value(Src v) {
  if constexpr (std::is_same_v<Dst, kernels::Bf16>) return kernels::to_bf16(as_float(v));
  else if constexpr (std::is_same_v<Src, kernels::Bf16>) return static_cast<Dst>(kernels::to_float(v));
  else return static_cast<Dst>(v);
}

template <class F>
void dispatch_convertible(DType dtype, F&& f) {
  switch (dtype) {
    case DType::f32: f(float{}); return;
    case DType::f64: f(double{}); return;
    case DType::bf16: f(kernels::Bf16{}); return;
    default: CONVLAB_FAIL("convert: {} is not a floating type (f32, f64, bf16)", dtype_name(dtype));
  }
}

// Where logical element (n, c, h, w) of an (N, C, H, W) tensor lives.
int64_t offset(const Shape& s, bool channels_last, int64_t n, int64_t c, int64_t h, int64_t w) {
  return channels_last ? ((n * s[2] + h) * s[3] + w) * s[1] + c : ((n * s[1] + c) * s[2] + h) * s[3] + w;
}

}  // namespace

void convert(const Tensor& x, Tensor& y) {
  CONVLAB_CHECK(x.shape() == y.shape(), "convert: {} into {}: the shapes differ", x.describe(), y.describe());
  dispatch_convertible(x.dtype(), [&]<class Src>(Src) {
    dispatch_convertible(y.dtype(), [&]<class Dst>(Dst) {
      const Src* src = x.host<Src>();
      Dst* dst = y.host<Dst>();
      if (x.format() == y.format()) {
        const int64_t n = x.numel();
#pragma omp parallel for if (n > 65536)
        for (int64_t i = 0; i < n; ++i) dst[i] = convert_value<Dst>(src[i]);
        return;
      }
      const Shape& s = x.shape();  // 4-D: channels_last exists only there
      const bool from_last = x.channels_last(), to_last = y.channels_last();
#pragma omp parallel for collapse(2) if (x.numel() > 65536)
      for (int64_t n = 0; n < s[0]; ++n)
        for (int64_t c = 0; c < s[1]; ++c)
          for (int64_t h = 0; h < s[2]; ++h)
            for (int64_t w = 0; w < s[3]; ++w)
              dst[offset(s, to_last, n, c, h, w)] = convert_value<Dst>(src[offset(s, from_last, n, c, h, w)]);
    });
  });
}

}  // namespace convlab::backend_cpu
