#include "framework/train/checkpoint.h"

#include <charconv>
#include <cmath>
#include <cstring>

namespace convlab {
namespace {

constexpr const char* kMomentumPrefix = "optimizer.momentum.";

NamedArray to_array(const std::string& name, const Tensor& t) {
  CONVLAB_CHECK(t.dtype() == DType::f32, "checkpoint tensor {} is {}, expected f32", name, t.describe());
  const Tensor host = t.to(cpu());
  NamedArray array{name, "F32", host.shape().dims(), std::vector<uint8_t>(host.nbytes())};
  std::memcpy(array.bytes.data(), host.raw(), host.nbytes());
  return array;
}

void from_array(const SafetensorsFile& file, const std::string& name, Tensor& target) {
  const NamedArray& array = file.at(name);
  CONVLAB_CHECK(array.dtype == "F32" && array.shape == target.shape().dims(),
                "{}: tensor {} is {} {}, the model expects f32 {}", file.path.string(), name, array.dtype,
                Shape(array.shape).str(), target.shape().str());
  Tensor host = Tensor::empty(target.shape(), DType::f32, cpu());
  std::memcpy(host.raw(), array.bytes.data(), host.nbytes());
  // A NaN would flow silently into every result (CKA of NaN features reads as "constant").
  const float* values = static_cast<const float*>(host.raw());
  for (int64_t i = 0; i < host.numel(); ++i)
    if (!std::isfinite(values[i]))
      CONVLAB_FAIL("{}: tensor {} holds {} at element {} of {}: the checkpoint is broken; use an earlier one",
                   file.path.string(), name, std::isnan(values[i]) ? "NaN" : "an infinity", i, host.numel());
  target.copy_from(host);
}

}  // namespace

void save_checkpoint(const std::filesystem::path& path, nn::Module& model, optim::Sgd* optimizer,
                     const std::map<std::string, std::string>& metadata) {
  std::vector<NamedArray> arrays;
  const auto params = model.named_parameters();
  for (const auto& [name, param] : params) arrays.push_back(to_array(name, param->value()));
  for (const auto& [name, buffer] : model.named_buffers()) arrays.push_back(to_array(name, *buffer));
  if (optimizer) {
    std::vector<Tensor>& momenta = optimizer->momentum_buffers();
    CONVLAB_CHECK(momenta.size() == params.size(), "the optimiser has {} buffers for {} parameters", momenta.size(),
                  params.size());
    for (size_t i = 0; i < params.size(); ++i) arrays.push_back(to_array(kMomentumPrefix + params[i].first, momenta[i]));
  }
  write_safetensors(path, arrays, metadata);
}

std::map<std::string, std::string> load_checkpoint(const std::filesystem::path& path, nn::Module& model,
                                                   optim::Sgd* optimizer) {
  const SafetensorsFile file = read_safetensors(path);
  load_checkpoint(file, model, optimizer);
  return file.metadata;
}

void load_checkpoint(const SafetensorsFile& file, nn::Module& model, optim::Sgd* optimizer) {
  const auto params = model.named_parameters();
  for (const auto& [name, param] : params) from_array(file, name, param->mutable_value());
  for (const auto& [name, buffer] : model.named_buffers()) from_array(file, name, *buffer);
  if (optimizer) {
    std::vector<Tensor>& momenta = optimizer->momentum_buffers();
    for (size_t i = 0; i < params.size(); ++i) from_array(file, kMomentumPrefix + params[i].first, momenta[i]);
  }
}

const std::string& metadata_text(const std::map<std::string, std::string>& metadata, const std::string& key,
                                 const std::filesystem::path& file) {
  const auto it = metadata.find(key);
  CONVLAB_CHECK(it != metadata.end(), "{} has no '{}' in its metadata: is it a checkpoint written by convlab-train?",
                file.string(), key);
  return it->second;
}

int64_t metadata_int(const std::map<std::string, std::string>& metadata, const std::string& key,
                     const std::filesystem::path& file, int64_t min, int64_t max) {
  const std::string& text = metadata_text(metadata, key, file);
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  const std::string shown = text.size() <= 200 ? text : text.substr(0, 200) + "...";
  CONVLAB_CHECK(ec == std::errc() && end == text.data() + text.size(),
                "{}: metadata '{}' is '{}', not a whole number", file.string(), key, shown);
  CONVLAB_CHECK(value >= min && value <= max, "{}: metadata '{}' is {}, outside {}..{}: a corrupt checkpoint",
                file.string(), key, value, min, max);
  return value;
}

}  // namespace convlab
