#include "tests/support/vector_source.h"

#include <cstring>

namespace convlab::test_support {

void VectorSource::add(const std::string& name, const Matrix& values, int64_t n, int64_t p) {
  names_.push_back(name);
  layers_.push_back(Tensor::from_vector<double>({n, p}, values));
}

std::vector<Tensor> VectorSource::batch(int64_t first, int64_t count) {
  std::vector<Tensor> out;
  for (const Tensor& t : layers_) {
    Tensor part = Tensor::empty({count, t.dim(1)}, t.dtype(), cpu());
    std::memcpy(part.raw(), static_cast<const char*>(t.raw()) + first * t.dim(1) * dtype_size(t.dtype()),
                part.nbytes());
    out.push_back(std::move(part));
  }
  return out;
}

}  // namespace convlab::test_support
