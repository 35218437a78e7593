#include "apps/bench_features.h"

#include <cblas.h>
#include <fmt/core.h>

#include <algorithm>

namespace convlab::bench {
namespace {

uint64_t mix64(uint64_t z) {  // splitmix64's finaliser
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t stream_key(uint64_t seed, uint64_t network, uint64_t layer, uint64_t purpose) {
  return mix64(mix64(mix64(mix64(seed) ^ network) ^ layer) ^ purpose);
}

// About N(0, 1): the sum of four 16-bit uniforms of one hash of (key, index), centred and
// scaled (Irwin-Hall). Cheap, reproducible, and all a benchmark's features need.
inline float gaussian(uint64_t key, uint64_t index) {
  const uint64_t h = mix64(key ^ (index * 0xD6E8FEB86659FD93ull));
  const float sum = static_cast<float>((h & 0xFFFF) + ((h >> 16) & 0xFFFF) + ((h >> 32) & 0xFFFF) + (h >> 48));
  return (sum * (1.0f / 65536.0f) - 2.0f) * 1.7320508f;
}

// The noise of one feature of one example: a 32-bit hash (murmur3's finaliser, which
// vectorises) of the example's own key and the feature's index; the sum of its two 16-bit
// halves, centred and scaled to variance 1 (a triangular distribution: noise enough).
inline float row_noise(uint32_t row_key, uint32_t feature) {
  uint32_t h = row_key ^ (feature * 0x9E3779B9u);
  h ^= h >> 16;
  h *= 0x85EBCA6Bu;
  h ^= h >> 13;
  h *= 0xC2B2AE35u;
  h ^= h >> 16;
  const float sum = static_cast<float>(static_cast<int32_t>((h & 0xFFFFu) + (h >> 16)));
  return (sum * (1.0f / 65536.0f) - 1.0f) * 2.4494897f;
}

constexpr int64_t kLatent = 16;

}  // namespace

SyntheticFeatures::SyntheticFeatures(const std::vector<int64_t>& widths, int64_t examples, uint64_t seed, int network,
                                     Device device)
    : widths_(widths), examples_(examples), seed_(seed), network_(network), device_(device) {
  std::vector<float> latent(static_cast<size_t>(examples * kLatent));
  const uint64_t latent_key = stream_key(seed, 0xFFFF, 0, 0);  // shared by every network
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < examples * kLatent; ++i) latent[static_cast<size_t>(i)] = gaussian(latent_key, i);
  std::vector<float> chunk;
  for (size_t l = 0; l < widths.size(); ++l) {
    const int64_t p = widths[l];
    names_.push_back(fmt::format("layer{:02d}", l));
    layers_.push_back(Tensor::empty({examples, p}, DType::f32, device));
    // Rows in chunks of at most 64 Mi values, generated on the host and copied over.
    const int64_t rows = std::max<int64_t>(1, std::min<int64_t>(examples, (int64_t{1} << 26) / p));
    if (!device.is_cpu()) chunk.resize(static_cast<size_t>(rows * p));
    std::vector<float> mix(static_cast<size_t>(kLatent * p));
    const uint64_t mix_key = stream_key(seed, static_cast<uint64_t>(network), l, 1);
    const uint64_t noise_key = stream_key(seed, static_cast<uint64_t>(network), l, 2);
    for (int64_t i = 0; i < kLatent * p; ++i) mix[static_cast<size_t>(i)] = 0.25f * gaussian(mix_key, i);
    for (int64_t first = 0; first < examples; first += rows) {
      const int64_t count = std::min(rows, examples - first);
      float* out = device.is_cpu() ? layers_.back().data<float>() + first * p : chunk.data();
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(count), static_cast<int>(p),
                  static_cast<int>(kLatent), 1.0f, latent.data() + first * kLatent, static_cast<int>(kLatent),
                  mix.data(), static_cast<int>(p), 0.0f, out, static_cast<int>(p));
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < count; ++i) {
        float* row = out + i * p;
        const uint32_t row_key = static_cast<uint32_t>(mix64(noise_key ^ static_cast<uint64_t>(first + i)));
        for (int64_t c = 0; c < p; ++c) {
          const float v = row[c] + 0.5f * row_noise(row_key, static_cast<uint32_t>(c)) + 0.2f;
          row[c] = v > 0.0f ? v : 0.0f;
        }
      }
      if (!device.is_cpu())
        copy_bytes(layers_.back().data<float>() + first * p, device, out, cpu(),
                   static_cast<size_t>(count * p) * sizeof(float));
    }
  }
  device.context().synchronize();
}

std::vector<Tensor> SyntheticFeatures::views(int64_t first, int64_t count) {
  CONVLAB_CHECK(first >= 0 && count >= 0 && first + count <= examples_, "examples {} to {} of {}", first,
                first + count, examples_);
  std::vector<Tensor> out;
  for (size_t l = 0; l < layers_.size(); ++l)
    out.push_back(Tensor::borrow(layers_[l].data<float>() + first * widths_[l], {count, widths_[l]}, DType::f32,
                                 device_));
  return out;
}

ImageSet random_images(int64_t count, uint64_t seed) {
  ImageSet set;
  set.images.resize(static_cast<size_t>(count * kCifarImageBytes));
  set.labels.resize(static_cast<size_t>(count));
  const uint64_t key = stream_key(seed, 0xFEED, 0, 0);
  for (size_t i = 0; i < set.images.size(); ++i) set.images[i] = static_cast<uint8_t>(mix64(key ^ i) >> 56);
  for (int64_t i = 0; i < count; ++i) set.labels[static_cast<size_t>(i)] = static_cast<uint8_t>(i % 10);
  return set;
}

}  // namespace convlab::bench
