// Checkpoints in the safetensors format: every parameter and buffer under its module name
// ("conv1.weight", "bn1.running_mean"), f32, so PyTorch and JAX users can load them; with
// an optimiser, its momentum buffers as "optimizer.momentum.<name>". Metadata holds the
// run's position (epoch, updates) and, from format version 2 on, all a user of another
// framework needs to run the network (checkpoint_metadata). Files are written atomically.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "framework/io/config.h"
#include "framework/io/safetensors.h"
#include "framework/nn/model.h"
#include "framework/optim/sgd.h"

namespace convlab {

// The checkpoint format this convlab writes, and the newest it reads. 1: tensors, model
// shape and position; 2: adds padding rule, layouts, per-layer settings, input
// normalisation, class names, the resolved config and convlab's version.
inline constexpr int kCheckpointFormatVersion = 2;

// The metadata of a checkpoint of `model` trained with `config` on `class_names`, on the
// device described by `device`, at (epoch, updates). All values are strings (safetensors
// metadata); lists and maps are JSON text:
//   format "convlab-checkpoint-2", format_version "2", convlab_version "0.1.0"
//   model (description), model_name, depth, num_classes, batchnorm, seed, epoch, updates
//   same_padding "xla": a SAME conv pads max((ceil(in / stride) - 1) * stride + kernel - in, 0)
//                in all, floor(half) before and the rest after (the extra row/column goes last)
//   activations "NCHW", conv_weight "OIHW", linear_weight "OI" (out, in)
//   layers       {"conv1": {"type": "conv2d", "kernel": 3, "stride": 1, "padding": "same"},
//                 "bn1": {"type": "batchnorm2d", "eps": 1e-05, "momentum": 0.1}, ...}; padding
//                 is "same", "valid" or the zeros on every side
//   input        how an image becomes the network's input; input_mean, input_std (RGB lists)
//   class_names  ["airplane", ...]; feature_names: what convlab-analyze calls the layers
//   config       the resolved config (YAML), device (where it was trained)
std::map<std::string, std::string> checkpoint_metadata(nn::Model& model, const TrainConfig& config,
                                                       const std::vector<std::string>& class_names,
                                                       const std::string& device, int64_t epoch, int64_t updates);

// The format version a checkpoint's metadata declares: format_version, else the number after
// "convlab-checkpoint-" in format, else 1 (files from before format versions).
int checkpoint_format_version(const std::map<std::string, std::string>& metadata);

// Throws, naming the file, when it declares a format newer than kCheckpointFormatVersion.
void check_checkpoint_format(const SafetensorsFile& file);

void save_checkpoint(const std::filesystem::path& path, nn::Module& model, optim::Sgd* optimizer,
                     const std::map<std::string, std::string>& metadata);

// Loads into `model` (and the optimiser's momentum, if given; the file must then have it),
// onto the tensors' current devices. Every parameter and buffer must be present with its
// shape and finite values (a NaN or infinity is refused); errors name the file and the
// tensor. Returns the metadata.
std::map<std::string, std::string> load_checkpoint(const std::filesystem::path& path, nn::Module& model,
                                                   optim::Sgd* optimizer);
// The same from a file already read. Both refuse a newer format (check_checkpoint_format).
void load_checkpoint(const SafetensorsFile& file, nn::Module& model, optim::Sgd* optimizer);

// Metadata entry `key` of checkpoint `file`: an error naming the key and the file when it
// is missing.
const std::string& metadata_text(const std::map<std::string, std::string>& metadata, const std::string& key,
                                 const std::filesystem::path& file);

// The same as a whole number in [min, max].
int64_t metadata_int(const std::map<std::string, std::string>& metadata, const std::string& key,
                     const std::filesystem::path& file, int64_t min, int64_t max);

}  // namespace convlab
