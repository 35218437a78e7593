#include "framework/linalg/first_copies.h"

#include <string_view>
#include <unordered_map>

namespace convlab::linalg {

std::vector<int64_t> first_copies(const cka::FeatureView& x) {
  const int64_t n = x.rows(), p = x.cols();
  const size_t row_bytes = static_cast<size_t>(p) * (x.is_f32() ? sizeof(float) : sizeof(double));
  const auto row = [&](int64_t i) {
    return x.is_f32() ? static_cast<const void*>(x.f32() + i * p) : static_cast<const void*>(x.f64() + i * p);
  };
  std::vector<int64_t> out(static_cast<size_t>(n));
  std::unordered_map<std::string_view, int64_t> first;  // a row's bytes -> its first example
  for (int64_t i = 0; i < n; ++i) {
    const std::string_view bytes(static_cast<const char*>(row(i)), row_bytes);
    out[static_cast<size_t>(i)] = first.emplace(bytes, i).first->second;
  }
  return out;
}

std::vector<int64_t> first_copies_by_hash(const std::vector<uint64_t>& hashes,
                                          const std::function<bool(int64_t, int64_t)>& same_bytes) {
  const int64_t n = static_cast<int64_t>(hashes.size());
  std::vector<int64_t> out(static_cast<size_t>(n));
  std::unordered_map<uint64_t, std::vector<int64_t>> distinct;  // hash -> the first example of each distinct row
  for (int64_t i = 0; i < n; ++i) {
    out[static_cast<size_t>(i)] = i;
    std::vector<int64_t>& seen = distinct[hashes[static_cast<size_t>(i)]];
    for (const int64_t f : seen)
      if (same_bytes(f, i)) {
        out[static_cast<size_t>(i)] = f;
        break;
      }
    if (out[static_cast<size_t>(i)] == i) seen.push_back(i);
  }
  return out;
}

}  // namespace convlab::linalg
