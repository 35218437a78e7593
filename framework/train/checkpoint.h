// Checkpoints in the safetensors format: every parameter and buffer under its module name
// ("conv1.weight", "bn1.running_mean"), f32, so PyTorch and JAX users can load them; with
// an optimiser, its momentum buffers as "optimizer.momentum.<name>". Metadata holds the
// run's position (epoch, updates) and description. Files are written atomically.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "framework/io/safetensors.h"
#include "framework/nn/module.h"
#include "framework/optim/sgd.h"

namespace convlab {

void save_checkpoint(const std::filesystem::path& path, nn::Module& model, optim::Sgd* optimizer,
                     const std::map<std::string, std::string>& metadata);

// Loads into `model` (and the optimiser's momentum, if given; the file must then have it),
// onto the tensors' current devices. Every parameter and buffer must be present with its
// shape and finite values (a NaN or infinity is refused); errors name the file and the
// tensor. Returns the metadata.
std::map<std::string, std::string> load_checkpoint(const std::filesystem::path& path, nn::Module& model,
                                                   optim::Sgd* optimizer);
// The same from a file already read.
void load_checkpoint(const SafetensorsFile& file, nn::Module& model, optim::Sgd* optimizer);

// Metadata entry `key` of checkpoint `file`: an error naming the key and the file when it
// is missing.
const std::string& metadata_text(const std::map<std::string, std::string>& metadata, const std::string& key,
                                 const std::filesystem::path& file);

// The same as a whole number in [min, max].
int64_t metadata_int(const std::map<std::string, std::string>& metadata, const std::string& key,
                     const std::filesystem::path& file, int64_t min, int64_t max);

}  // namespace convlab
