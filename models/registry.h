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

// The f32 values the parameters and buffers of make_model(section, ...) hold, counted
// without building it: a checkpoint's tensors can be checked against the model its metadata
// describes before anything large is allocated.
int64_t state_size(const ModelSection& section);

// The names make_model accepts.
std::vector<std::string> model_names();

}  // namespace convlab::models
