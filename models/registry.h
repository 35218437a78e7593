// Builds a model from the config's model_config section by name. New models register
// here; nothing in the framework changes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "framework/io/config.h"
#include "framework/nn/model.h"

namespace convlab::models {

std::unique_ptr<nn::Model> make_model(const ModelSection& section, uint64_t seed);

// The names make_model accepts.
std::vector<std::string> model_names();

}  // namespace convlab::models
