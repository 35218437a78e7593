#include "framework/train/checkpoint.h"

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

}  // namespace convlab
