#include "framework/analysis/model_loader.h"

#include "framework/train/checkpoint.h"

namespace convlab {
namespace {

std::string required(const std::map<std::string, std::string>& meta, const std::string& key,
                     const std::filesystem::path& file) {
  const auto it = meta.find(key);
  CONVLAB_CHECK(it != meta.end(), "{} has no '{}' in its metadata: is it a checkpoint written by convlab-train?",
                file.string(), key);
  return it->second;
}

}  // namespace

LoadedModel load_model(const std::filesystem::path& checkpoint, const ModelFactory& factory, Device device) {
  CONVLAB_CHECK(std::filesystem::exists(checkpoint), "checkpoint {} does not exist", checkpoint.string());
  const SafetensorsFile file = read_safetensors(checkpoint);
  check_checkpoint_format(file);  // before anything that a newer format may mean differently
  const auto& meta = file.metadata;
  ModelSection section;
  section.name = required(meta, "model_name", checkpoint);
  section.depth = std::stoi(required(meta, "depth", checkpoint));
  section.num_classes = std::stoi(required(meta, "num_classes", checkpoint));
  section.batchnorm = required(meta, "batchnorm", checkpoint) == "true";
  LoadedModel loaded;
  loaded.model = factory(section, 0);
  loaded.model->to(device);
  load_checkpoint(file, *loaded.model, nullptr);
  loaded.metadata = meta;
  loaded.path = checkpoint;
  if (const auto it = loaded.metadata.find("epoch"); it != loaded.metadata.end()) loaded.epoch = std::stoll(it->second);
  loaded.model->eval();
  return loaded;
}

}  // namespace convlab
