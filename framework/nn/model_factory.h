// How code outside models/ builds a model: the caller passes models::make_model (or its own
// factory), so the framework never depends on the model zoo.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "framework/io/config.h"
#include "framework/nn/model.h"

namespace convlab {

using ModelFactory = std::function<std::unique_ptr<nn::Model>(const ModelSection&, uint64_t seed)>;

// How many f32 values the parameters and buffers of the model for a section hold, counted
// without building it (models::state_size).
using ModelStateSize = std::function<int64_t(const ModelSection&)>;

}  // namespace convlab
