#include "framework/cka/layer_pairs.h"

#include <fmt/format.h>

#include "framework/cka/features.h"
#include "framework/cka/warning.h"
#include "framework/core/error.h"
#include "kernels/gram.h"

namespace convlab::cka {

LayerPairs::LayerPairs(int64_t layers) : self_(true), layers_a_(layers) {
  CONVLAB_CHECK(layers > 0, "CKA needs at least one layer, got {}", layers);
  names_.resize(static_cast<size_t>(rows()));
}

LayerPairs::LayerPairs(int64_t layers_a, int64_t layers_b) : self_(false), layers_a_(layers_a), layers_b_(layers_b) {
  CONVLAB_CHECK(layers_a > 0 && layers_b > 0, "CKA needs at least one layer per network, got {} and {}", layers_a,
                layers_b);
  names_.resize(static_cast<size_t>(rows()));
}

void LayerPairs::set_name(int64_t row, const std::string& name) {
  if (!name.empty()) names_[static_cast<size_t>(row)] = name;
}

std::string LayerPairs::label(int64_t row) const {
  const std::string& name = names_[static_cast<size_t>(row)];
  if (self_) return name.empty() ? fmt::format("layer {}", row) : layer_label(name);
  const bool in_a = row < layers_a_;
  const int64_t index = in_a ? row : row - layers_a_;
  return fmt::format("{} of network {}", name.empty() ? fmt::format("layer {}", index) : layer_label(name),
                     in_a ? "A" : "B");
}

std::vector<double> LayerPairs::cka(const std::vector<double>& mean, bool warn) const {
  const int64_t r = rows(), la = layers_a(), lb = layers_b();
  CONVLAB_CHECK(static_cast<int64_t>(mean.size()) == r * r, "expected a {} x {} HSIC matrix, got {} values", r, r,
                mean.size());
  for (int64_t i = 0; i < r; ++i)
    if (warn && !(mean[i * r + i] > 0.0)) warn_constant_layer(label(i));
  std::vector<double> out(static_cast<size_t>(la * lb));  // (L, M)
  for (int64_t i = 0; i < la; ++i)
    for (int64_t j = 0; j < lb; ++j) {
      const int64_t row_b = row_of_b(j);
      out[i * lb + j] = kernels::cka_from_hsic(mean[i * r + row_b], mean[i * r + i], mean[row_b * r + row_b]);
    }
  return out;
}

}  // namespace convlab::cka
