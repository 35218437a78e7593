// A trained network back from a convlab checkpoint: the metadata names the model and its
// shape (model_name, depth, num_classes, batchnorm), the factory builds it, the weights and
// BatchNorm statistics are loaded onto `device`.
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

LoadedModel load_model(const std::filesystem::path& checkpoint, const ModelFactory& factory, Device device);

}  // namespace convlab
