#include "models/registry.h"

#include "models/all_cnn_c.h"
#include "models/resnet.h"

namespace convlab::models {
namespace {

AllCnnCOptions all_cnn_c_options(const ModelSection& section, uint64_t seed) {
  AllCnnCOptions options;
  options.depth = section.depth;
  options.num_classes = section.num_classes;
  options.dropout_input = section.dropout_input;
  options.dropout_hidden = section.dropout_hidden;
  options.batchnorm = section.batchnorm;
  options.seed = seed;
  return options;
}

ResNetOptions resnet20_options(const ModelSection& section, uint64_t seed) {
  // Its shape is fixed; the All-CNN-C keys would be silently ignored, so they must stay at
  // their defaults.
  const ModelSection defaults;
  CONVLAB_CHECK(section.depth == defaults.depth && section.dropout_input == 0 && section.dropout_hidden == 0 &&
                    section.batchnorm,
                "model_config for resnet20: depth, dropout_input, dropout_hidden and batchnorm do not apply "
                "(leave them at 1, 0, 0, true); got {}, {}, {}, {}",
                section.depth, section.dropout_input, section.dropout_hidden, section.batchnorm);
  ResNetOptions options;
  options.blocks_per_stage = 3;
  options.num_classes = section.num_classes;
  options.seed = seed;
  return options;
}

[[noreturn]] void unknown_model(const ModelSection& section) {
  std::string known;
  for (const std::string& name : model_names()) known += (known.empty() ? "" : ", ") + name;
  CONVLAB_FAIL("unknown model_config.name '{}' (known: {})", section.name, known);
}

}  // namespace

std::unique_ptr<nn::Model> make_model(const ModelSection& section, uint64_t seed) {
  if (section.name == "all_cnn_c") return std::make_unique<AllCnnC>(all_cnn_c_options(section, seed));
  if (section.name == "resnet20") return std::make_unique<ResNet>(resnet20_options(section, seed));
  unknown_model(section);
}

int64_t state_size(const ModelSection& section) {
  if (section.name == "all_cnn_c") return AllCnnC::state_size(all_cnn_c_options(section, 0));
  if (section.name == "resnet20") return ResNet::state_size(resnet20_options(section, 0));
  unknown_model(section);
}

std::vector<std::string> model_names() { return {"all_cnn_c", "resnet20"}; }

}  // namespace convlab::models
