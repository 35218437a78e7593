#include "framework/cka/cuda/device_features.h"

#include "framework/cka/features.h"

namespace convlab::cka {

DeviceFeatureView::DeviceFeatureView(const Tensor& features, std::string name)
    : name_(std::move(name)) {
  CONVLAB_CHECK(features.defined() && features.device().is_cuda() && features.dtype() == DType::f32,
                "{}: the CUDA CKA takes f32 features on a CUDA device, got {}", label(),
                features.defined() ? features.describe() : std::string("an empty tensor"));
  CONVLAB_CHECK(features.rank() >= 1 && features.dim(0) > 0 && features.numel() > 0,
                "{}: features need at least one example and one feature, got shape {}", label(),
                features.shape().str());
  context_ = &features.device().context();
  data_ = features.data<float>();
  rows_ = features.dim(0);
  cols_ = features.numel() / rows_;
}

std::string DeviceFeatureView::label() const { return layer_label(name_); }

}  // namespace convlab::cka
