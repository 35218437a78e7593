// The features convlab-bench --analysis times the measures on: synthetic layers generated
// once and kept resident on the device (so that only the measures are timed), and .npy files
// whose batches are copied to a GPU inside the timed comparison.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/analysis/feature_source.h"
#include "framework/core/tensor.h"
#include "framework/data/image_set.h"

namespace convlab::bench {

// Network `network`'s features, generated once on `device` and handed out as views of the
// resident tensors (batch() on the CPU, device_batch() on a GPU: no copy, nothing timed but
// the measures).
class SyntheticFeatures final : public FeatureSource {
 public:
  SyntheticFeatures(const std::vector<int64_t>& widths, int64_t examples, uint64_t seed, int network, Device device);

  std::string description() const override {
    return fmt::format("synthetic network {} ({} layers, seed {})", network_ == 0 ? "A" : "B", widths_.size(), seed_);
  }
  std::vector<std::string> layer_names() const override { return names_; }
  int64_t examples() const override { return examples_; }
  Device device() const override { return device_; }
  std::vector<Tensor> batch(int64_t first, int64_t count) override {
    std::vector<Tensor> out = views(first, count);
    if (!device_.is_cpu())
      for (Tensor& t : out) t = t.to(cpu());
    return out;
  }
  std::vector<Tensor> device_batch(int64_t first, int64_t count) override { return views(first, count); }

 private:
  std::vector<Tensor> views(int64_t first, int64_t count);

  std::vector<int64_t> widths_;
  int64_t examples_;
  uint64_t seed_;
  int network_;
  Device device_;
  std::vector<std::string> names_;
  std::vector<Tensor> layers_;  // (examples, p) f32 each, on device_
};


// A CPU source (.npy files) whose batches a GPU measures: each batch read, made f32 (the GPU
// measures take f32) and copied to `device`, inside the timed comparison.
class CopiedToDevice final : public FeatureSource {
 public:
  CopiedToDevice(FeatureSource& host, Device device) : host_(host), device_(device) {}
  std::string description() const override { return host_.description(); }
  std::vector<std::string> layer_names() const override { return host_.layer_names(); }
  int64_t examples() const override { return host_.examples(); }
  std::vector<Tensor> batch(int64_t first, int64_t count) override { return host_.batch(first, count); }
  Device device() const override { return device_; }
  std::vector<Tensor> device_batch(int64_t first, int64_t count) override {
    std::vector<Tensor> out = host_.batch(first, count);
    for (Tensor& t : out) {
      if (t.dtype() != DType::f32) t = t.to(DType::f32);
      t = t.to(device_);
    }
    return out;
  }

 private:
  FeatureSource& host_;
  Device device_;
};

// `count` random 32 x 32 RGB images (labels 0 to 9 in turn), the same for the same seed: what
// a network's forward pass is timed on without CIFAR-10.
ImageSet random_images(int64_t count, uint64_t seed);

}  // namespace convlab::bench
