#include "framework/analysis/feature_source.h"

#include <cmath>
#include <cstring>
#include <memory>
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
  if (!folded_) {  // once per source, that is per checkpoint: the weights do not change here
    model_.fold_batchnorm();
    folded_ = true;
  }
  NoGradGuard no_grad;
  Batch input = assemble_batch(images_, order_, first, count, kernels::cifar10_augment_config(false, false, false),
                               /*augment=*/false, 0, 0, storage_);
  std::vector<Variable> features;
  nn::ForwardContext ctx;
  ctx.features = &features;
  model_.forward(Variable(std::move(input.images)), ctx);
  std::vector<Tensor> out;
  for (const Variable& f : features) {
    // A copy on the same device: the Variables, and the graph they belong to, go away here.
    Tensor copy = f.value().clone();
    if (copy.dtype() == DType::bf16) {
      Tensor widened = Tensor::empty(copy.shape(), DType::f32, copy.device(), copy.format());
      backend(copy.device()).convert(copy, widened);
      copy = std::move(widened);
    }
    out.push_back(std::move(copy).reshaped({count, f.value().numel() / count}));
  }
  return out;
}

NpyFeatureSource::NpyFeatureSource(const std::vector<std::filesystem::path>& files) {
  CONVLAB_CHECK(!files.empty(), "no .npy feature files given");
  for (const auto& file : files) {
    auto reader = std::make_unique<NpyRowReader>(file);
    const NpyHeader& header = reader->header();
    CONVLAB_CHECK(header.dtype == DType::f32 || header.dtype == DType::f64,
                  "{}: features must be float32 or float64, not {}", file.string(), dtype_name(header.dtype));
    CONVLAB_CHECK(!header.shape.empty() && header.shape[0] > 0, "{}: features need a first dimension of examples",
                  file.string());
    const int64_t n = header.shape[0];
    CONVLAB_CHECK(readers_.empty() || n == examples_, "{} has {} examples but {} has {}: every feature file needs "
                  "the same examples", file.string(), n, files.front().string(), examples_);
    int64_t width = 1;
    for (size_t d = 1; d < header.shape.size(); ++d) width *= header.shape[d];
    CONVLAB_CHECK(width > 0, "{}: shape {} holds no features for its {} examples; every layer needs at least one "
                  "feature per example", file.string(), Shape(header.shape).str(), n);
    examples_ = n;
    widths_.push_back(width);
    readers_.push_back(std::move(reader));
    names_.push_back(file.stem().string());
  }
}

std::string NpyFeatureSource::description() const {
  return fmt::format("{} .npy feature files ({} examples)", readers_.size(), examples_);
}

std::vector<Tensor> NpyFeatureSource::batch(int64_t first, int64_t count) {
  std::vector<Tensor> out;
  for (size_t l = 0; l < readers_.size(); ++l) {
    Tensor part = Tensor::empty({count, widths_[l]}, readers_[l]->header().dtype, cpu());  // (count, p)
    readers_[l]->read_rows(first, count, part.raw());
    // A NaN would turn every value with this layer into NaN: named here by file and example.
    const int64_t bad = first_non_finite(part);
    CONVLAB_CHECK(bad < 0, "{}: feature {} of example {} is not finite ({}); CKA, RSA and Procrustes need finite "
                  "features", readers_[l]->header().path.string(), bad % widths_[l], first + bad / widths_[l],
                  part.dtype() == DType::f32 ? static_cast<double>(static_cast<const float*>(part.raw())[bad])
                                             : static_cast<const double*>(part.raw())[bad]);
    out.push_back(std::move(part));
  }
  return out;
}

}  // namespace convlab
