#include "framework/analysis/feature_source.h"

#include <cmath>
#include <cstring>
#include <numeric>

#include "framework/autograd/variable.h"
#include "framework/io/npy.h"
#include "framework/train/batches.h"

namespace convlab {
namespace {

// The index of the first NaN or infinity of an f32 or f64 CPU tensor, or -1.
int64_t first_non_finite(const Tensor& t) {
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double value = t.dtype() == DType::f32 ? static_cast<const float*>(t.raw())[i]
                                                 : static_cast<const double*>(t.raw())[i];
    if (!std::isfinite(value)) return i;
  }
  return -1;
}

}  // namespace

ModelFeatureSource::ModelFeatureSource(nn::Model& model, const DeviceImageSet& images, std::string description)
    : model_(model),
      images_(images),
      description_(std::move(description)),
      order_(identity_order(images.size(), images.images.device())) {}

std::vector<Tensor> ModelFeatureSource::batch(int64_t first, int64_t count) {
  std::vector<Tensor> out = device_batch(first, count);
  for (Tensor& t : out)
    if (!t.device().is_cpu()) t = t.to(cpu());
  return out;
}

std::vector<Tensor> ModelFeatureSource::device_batch(int64_t first, int64_t count) {
  model_.eval();
  NoGradGuard no_grad;
  Batch input = assemble_batch(images_, order_, first, count, kernels::cifar10_augment_config(false, false, false),
                               /*augment=*/false, 0, 0);
  std::vector<Variable> features;
  nn::ForwardContext ctx;
  ctx.features = &features;
  model_.forward(Variable(std::move(input.images)), ctx);
  std::vector<Tensor> out;
  for (const Variable& f : features) {
    // A copy on the same device: the Variables, and the graph they belong to, go away here.
    Tensor copy = f.value().clone();
    out.push_back(std::move(copy).reshaped({count, f.value().numel() / count}));
  }
  return out;
}

NpyFeatureSource::NpyFeatureSource(const std::vector<std::filesystem::path>& files) {
  CONVLAB_CHECK(!files.empty(), "no .npy feature files given");
  for (const auto& file : files) {
    const NpyArray array = read_npy(file);
    CONVLAB_CHECK(array.dtype == DType::f32 || array.dtype == DType::f64,
                  "{}: features must be float32 or float64, not {}", file.string(), dtype_name(array.dtype));
    CONVLAB_CHECK(!array.shape.empty() && array.shape[0] > 0, "{}: features need a first dimension of examples",
                  file.string());
    const int64_t n = array.shape[0];
    const int64_t width = array.numel() / n;
    CONVLAB_CHECK(width > 0, "{}: shape {} holds no features for its {} examples; every layer needs at least one "
                  "feature per example", file.string(), Shape(array.shape).str(), n);
    CONVLAB_CHECK(layers_.empty() || n == examples_, "{} has {} examples but {} has {}: every feature file needs "
                  "the same examples", file.string(), n, files.front().string(), examples_);
    examples_ = n;
    Tensor t = Tensor::empty({n, width}, array.dtype, cpu());
    std::memcpy(t.raw(), array.bytes.data(), t.nbytes());
    // A NaN would turn every CKA value with this layer into NaN, reported as "constant features".
    const int64_t bad = first_non_finite(t);
    CONVLAB_CHECK(bad < 0, "{}: feature {} of example {} is not finite ({}); CKA needs finite features",
                  file.string(), bad % width, bad / width,
                  t.dtype() == DType::f32 ? static_cast<double>(static_cast<const float*>(t.raw())[bad])
                                          : static_cast<const double*>(t.raw())[bad]);
    layers_.push_back(std::move(t));
    names_.push_back(file.stem().string());
  }
}

std::string NpyFeatureSource::description() const {
  return fmt::format("{} .npy feature files ({} examples)", layers_.size(), examples_);
}

std::vector<Tensor> NpyFeatureSource::batch(int64_t first, int64_t count) {
  std::vector<Tensor> out;
  for (const Tensor& layer : layers_) {
    const int64_t width = layer.dim(1);
    Tensor part = Tensor::empty({count, width}, layer.dtype(), cpu());
    const size_t row_bytes = static_cast<size_t>(width) * dtype_size(layer.dtype());
    std::memcpy(part.raw(), static_cast<const uint8_t*>(layer.raw()) + first * row_bytes, count * row_bytes);
    out.push_back(std::move(part));
  }
  return out;
}

}  // namespace convlab
