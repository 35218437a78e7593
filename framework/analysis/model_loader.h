// A trained network back from a convlab checkpoint: the metadata names the model and its
// shape (model_name, depth, num_classes, batchnorm), the factory builds it, the weights and
// BatchNorm statistics are loaded onto `device`. Errors name the file and the key or tensor.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "framework/nn/model_factory.h"

namespace convlab {

struct LoadedModel {
  std::unique_ptr<nn::Model> model;
  std::map<std::string, std::string> metadata;
  std::filesystem::path path;
  int64_t epoch = -1;  // from the metadata; -1 if absent
};

// The metadata must lie in the config's ranges. With `state_size` (models::state_size), the
// file's tensors are counted against the model the metadata describe before it is built.
LoadedModel load_model(const std::filesystem::path& checkpoint, const ModelFactory& factory, Device device,
                       const ModelStateSize& state_size = nullptr);

}  // namespace convlab
