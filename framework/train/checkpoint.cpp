#include "framework/train/checkpoint.h"

#include <nlohmann/json.hpp>

#include <charconv>
#include <cmath>
#include <cstring>

#include "framework/core/version.h"
#include "framework/nn/layers.h"
#include "kernels/augment.h"

namespace convlab {
namespace {

using Json = nlohmann::ordered_json;

constexpr const char* kMomentumPrefix = "optimizer.momentum.";
constexpr const char* kFormatPrefix = "convlab-checkpoint-";

// Per layer what the tensors alone do not say: strides, padding, BatchNorm's epsilon.
Json layer_settings(nn::Model& model) {
  Json layers = Json::object();
  for (const auto& [name, module] : model.named_modules()) {
    if (auto* conv = dynamic_cast<nn::Conv2d*>(module)) {
      const ops::ConvSpec& spec = conv->spec();
      Json padding = spec.padding == Padding::same    ? Json("same")
                     : spec.padding == Padding::valid ? Json("valid")
                                                      : Json(spec.pad);
      const int64_t kernel = conv->weight().value().dim(2);
      layers[name] = Json{{"type", "conv2d"}, {"kernel", kernel}, {"stride", spec.stride}, {"padding", padding}};
    } else if (const auto* bn = dynamic_cast<const nn::BatchNorm2d*>(module)) {
      layers[name] = Json{{"type", "batchnorm2d"}, {"eps", bn->eps()}, {"momentum", bn->momentum()}};
    } else if (dynamic_cast<const nn::Linear*>(module)) {
      layers[name] = Json{{"type", "linear"}};
    }
  }
  return layers;
}

// A JSON list of the three channel values.
std::string rgb_list(const double (&values)[3]) { return Json(std::vector<double>(values, values + 3)).dump(); }

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

std::map<std::string, std::string> checkpoint_metadata(nn::Model& model, const TrainConfig& config,
                                                       const std::vector<std::string>& class_names,
                                                       const std::string& device, int64_t epoch, int64_t updates) {
  return {{"format", kFormatPrefix + std::to_string(kCheckpointFormatVersion)},
          {"format_version", std::to_string(kCheckpointFormatVersion)},
          {"convlab_version", version()},
          {"model", model.description()},
          {"model_name", config.model.name},
          {"depth", std::to_string(config.model.depth)},
          {"num_classes", std::to_string(config.model.num_classes)},
          {"batchnorm", config.model.batchnorm ? "true" : "false"},
          {"seed", std::to_string(config.train.seed_id)},
          {"epoch", std::to_string(epoch)},
          {"updates", std::to_string(updates)},
          {"same_padding", "xla"},
          {"activations", "NCHW"},
          {"conv_weight", "OIHW"},
          {"linear_weight", "OI"},
          {"layers", layer_settings(model).dump()},
          {"input", "RGB pixels (0..255) / 255, then (x - input_mean) / input_std per channel, as (N, 3, 32, 32)"},
          {"input_mean", rgb_list(kernels::kCifar10Mean)},
          {"input_std", rgb_list(kernels::kCifar10Std)},
          {"class_names", Json(class_names).dump()},
          {"feature_names", Json(model.feature_names()).dump()},
          {"config", to_yaml(config)},
          {"device", device}};
}

int checkpoint_format_version(const std::map<std::string, std::string>& metadata) {
  std::string text;
  if (const auto it = metadata.find("format_version"); it != metadata.end()) {
    text = it->second;
  } else if (const auto format = metadata.find("format");
             format != metadata.end() && format->second.rfind(kFormatPrefix, 0) == 0) {
    text = format->second.substr(std::char_traits<char>::length(kFormatPrefix));
  } else {
    return 1;
  }
  int value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 1)
    CONVLAB_FAIL("the checkpoint's format version '{}' is not a positive whole number", text);
  return value;
}

void check_checkpoint_format(const SafetensorsFile& file) {
  int declared = 0;
  try {
    declared = checkpoint_format_version(file.metadata);
  } catch (const Error& error) {
    CONVLAB_FAIL("{}: {}", file.path.string(), error.what());
  }
  if (declared > kCheckpointFormatVersion)
    CONVLAB_FAIL("{} is a convlab checkpoint of format version {}, newer than this convlab ({}) reads (format "
                 "versions 1 to {}); update convlab to load it",
                 file.path.string(), declared, version(), kCheckpointFormatVersion);
}

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
  check_checkpoint_format(file);
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
