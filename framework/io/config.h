// The training config: the reference's YAML schema (train_config, log_config, model_config
// with the reference's key names), plus a few convlab extensions marked as such. Every key
// has a default, so a file only needs the keys it changes; anything the schema does not know
// is an error rather than silently ignored, since a misspelt key would otherwise train the
// wrong experiment for hours.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace convlab {

// How w_decay enters the update.
enum class WeightDecayMode {
  l2,         // the reference: w_decay * sum(p^2) is added to the loss
  decoupled,  // convlab extension: the decay is applied in the update step, not through the gradient
};

// The arithmetic of training (convlab extension). fp32: strict fp32 convolutions; tf32: fp32
// data, TF32 tensor cores for convolutions and GEMMs (the default); bf16: bf16 activations and
// working copies of the weights, fp32 master weights, momentum, BatchNorm statistics, loss
// and reductions.
enum class Precision { fp32, tf32, bf16 };

// The memory format of activations (convlab extension): auto is channels_last (NHWC, cuDNN's
// tensor-core layout) for bf16 on CUDA and contiguous (NCHW) otherwise.
enum class ActivationLayout { auto_, nchw, nhwc };

struct TrainSection {
  int seed_id = 0;
  double max_norm = 2.0;  // global L2 norm the gradient is clipped to; 0 = no clipping
  double lrate = 0.1;
  double momentum = 0.9;
  bool nesterov = true;
  double w_decay = 1e-4;  // the reference's configs; its prose says 1e-3
  bool use_augment = true;
  bool use_cutout = true;
  int batch_size = 128;
  int train_data_size = 50000;
  double lrate_decay = 0.1;
  int num_epochs = 350;
  std::vector<int> decay_after_epochs = {200, 250, 300};
  WeightDecayMode weight_decay_mode = WeightDecayMode::l2;  // convlab extension
  // convlab extension: on CUDA, only deterministic cuDNN algorithms (the same inputs give the
  // same bits, and --resume, pinning the run's conv_algorithms.txt, repeats the uninterrupted
  // run bit for bit; two fresh runs may time different algorithms); false also admits
  // non-deterministic ones when they time faster.
  bool deterministic = true;
  Precision precision = Precision::tf32;                  // convlab extension
  ActivationLayout memory_format = ActivationLayout::auto_;  // convlab extension

  bool operator==(const TrainSection&) const = default;
};

struct LogSection {
  std::string experiment_dir = "experiments/default";
  std::vector<std::string> time_to_track = {"num_updates", "num_epochs"};
  std::vector<std::string> what_to_track = {"train_loss", "train_acc", "test_loss", "test_acc"};
  std::vector<std::string> what_to_print = {"train_loss", "train_acc", "test_loss", "test_acc"};
  std::string model_type = "jax";  // recorded only; the reference's checkpoint flavour
  int print_every_k_updates = 391;
  std::string ckpt_time_to_track = "num_epochs";
  int save_every_k_ckpt = 5;
  bool verbose = true;

  bool operator==(const LogSection&) const = default;
};

struct ModelSection {
  int num_classes = 10;
  double dropout_input = 0.0;
  double dropout_hidden = 0.0;
  int depth = 1;
  std::string name = "all_cnn_c";  // convlab extension
  bool batchnorm = true;           // convlab extension; false = the paper's conv bias, no BN

  bool operator==(const ModelSection&) const = default;
};

struct TrainConfig {
  TrainSection train;
  LogSection log;
  ModelSection model;

  bool operator==(const TrainConfig&) const = default;
};

std::string to_string(WeightDecayMode mode);
std::string to_string(Precision precision);
std::string to_string(ActivationLayout layout);
Precision parse_precision(const std::string& text);         // fp32, tf32 or bf16, else an error
ActivationLayout parse_activation_layout(const std::string& text);  // auto, nchw or nhwc

// Reads and validates a config file. Errors name the file, the line where yaml-cpp knows
// it, and the key.
TrainConfig load_config(const std::filesystem::path& file);

// The same from text; source_name stands for the file in error messages.
TrainConfig parse_config(const std::string& yaml_text, const std::string& source_name);

// The value checks that parse_config runs, for a config changed after loading (for example
// by command-line overrides).
void validate_config(const TrainConfig& config, const std::string& source_name);

// Every key with its type, default, range and meaning, as an aligned text table.
std::string describe_config_keys();

// The values a numeric key accepts: integers min..max, numbers the interval between min
// and max (each end open or closed). Every int and float key has one (for a list of ints,
// each element); validation checks it.
struct KeyRange {
  double min = 0, max = 0;
  bool min_open = false, max_open = false;

  bool contains(double value) const;
  std::string text(bool integer) const;  // "1..64", "[0, 1)", "(0, 1000]"
};

// The range of a numeric key, e.g. "model_config.depth"; throws for a key without one.
const KeyRange& config_key_range(const std::string& full_key);

// Values that are valid but probably not meant, as messages naming the key (for example a
// decay epoch after the last epoch, so the rate never decays there).
std::vector<std::string> config_warnings(const TrainConfig& config);

// The config as YAML that parse_config reads back to an equal config.
std::string to_yaml(const TrainConfig& config);

// A key whose value differs between two configs: "train_config.seed_id", and each value as
// to_yaml writes it.
struct ConfigDifference {
  std::string key, first, second;
};
// Every key whose value differs, in the order of to_yaml.
std::vector<ConfigDifference> config_differences(const TrainConfig& a, const TrainConfig& b);

}  // namespace convlab
