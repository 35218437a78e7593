#include "models/registry.h"

#include "models/all_cnn_c.h"

namespace convlab::models {

std::unique_ptr<nn::Model> make_model(const ModelSection& section, uint64_t seed) {
  if (section.name == "all_cnn_c") {
    AllCnnCOptions options;
    options.depth = section.depth;
    options.num_classes = section.num_classes;
    options.dropout_input = section.dropout_input;
    options.dropout_hidden = section.dropout_hidden;
    options.batchnorm = section.batchnorm;
    options.seed = seed;
    return std::make_unique<AllCnnC>(options);
  }
  std::string known;
  for (const std::string& name : model_names()) known += (known.empty() ? "" : ", ") + name;
  CONVLAB_FAIL("unknown model_config.name '{}' (known: {})", section.name, known);
}

std::vector<std::string> model_names() { return {"all_cnn_c"}; }

}  // namespace convlab::models
