#include "framework/nn/init.h"

#include <cmath>
#include <numbers>

#include "kernels/philox.h"

namespace convlab::nn {

void fill_normal(Tensor& t, double stddev, uint64_t seed, uint32_t tensor_id) {
  const kernels::RandomKey key{seed, random_stream::kInit, tensor_id};
  auto draw = [&](int64_t i) {
    // Two uniforms per element; 1 - u keeps the logarithm's argument in (0, 1].
    const double u1 = 1.0 - kernels::random_uniform(key, 2 * static_cast<uint64_t>(i));
    const double u2 = kernels::random_uniform(key, 2 * static_cast<uint64_t>(i) + 1);
    return stddev * std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  };
  if (t.dtype() == DType::f64) {
    for (int64_t i = 0; i < t.numel(); ++i) t.host<double>()[i] = draw(i);
  } else {
    for (int64_t i = 0; i < t.numel(); ++i) t.host<float>()[i] = static_cast<float>(draw(i));
  }
}

void he_normal(Tensor& weight, uint64_t seed, uint32_t tensor_id) {
  const int64_t fan_in = weight.numel() / weight.dim(0);
  fill_normal(weight, std::sqrt(2.0 / static_cast<double>(fan_in)), seed, tensor_id);
}

}  // namespace convlab::nn
