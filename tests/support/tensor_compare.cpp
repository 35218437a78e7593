#include "tests/support/tensor_compare.h"

#include <cmath>
#include <cstring>

#include "framework/backend/backend.h"

namespace convlab::test_support {

Tensor as_f64(const Tensor& t) {
  const Tensor host = t.to(cpu());
  Tensor out = Tensor::empty(host.shape(), DType::f64, cpu());
  cpu_backend().convert(host, out);
  return out;
}

double max_relative_error(const Tensor& ref, const Tensor& got) {
  const Tensor a = as_f64(ref), b = as_f64(got);
  CONVLAB_CHECK(a.shape() == b.shape(), "compare {} with {}", ref.describe(), got.describe());
  double worst = 0, scale = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double x = a.host<double>()[i], y = b.host<double>()[i];
    if (std::isnan(x) != std::isnan(y)) return INFINITY;
    worst = std::max(worst, std::abs(x - y));
    scale = std::max(scale, std::abs(x));
  }
  return scale > 0 ? worst / scale : worst;
}

double norm_relative_error(const Tensor& ref, const Tensor& got) {
  const Tensor a = as_f64(ref), b = as_f64(got);
  CONVLAB_CHECK(a.shape() == b.shape(), "compare {} with {}", ref.describe(), got.describe());
  double diff = 0, norm = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double x = a.host<double>()[i], y = b.host<double>()[i];
    diff += (x - y) * (x - y);
    norm += x * x;
  }
  return norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  const Tensor x = a.to(cpu()), y = b.to(cpu());
  return x.shape() == y.shape() && x.dtype() == y.dtype() && x.format() == y.format() &&
         std::memcmp(x.raw(), y.raw(), x.nbytes()) == 0;
}

}  // namespace convlab::test_support
