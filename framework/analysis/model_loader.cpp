#include "framework/analysis/model_loader.h"

#include "framework/train/checkpoint.h"

namespace convlab {

LoadedModel load_model(const std::filesystem::path& checkpoint, const ModelFactory& factory, Device device,
                       const ModelStateSize& state_size) {
  CONVLAB_CHECK(std::filesystem::exists(checkpoint), "checkpoint {} does not exist", checkpoint.string());
  const SafetensorsFile file = read_safetensors(checkpoint);
  check_checkpoint_format(file);  // before anything that a newer format may mean differently
  const auto& meta = file.metadata;
  // The metadata obey the config's ranges: a corrupt depth must not build a giant model.
  auto ranged = [&](const std::string& key, const std::string& config_key) {
    const KeyRange& range = config_key_range(config_key);
    return static_cast<int>(metadata_int(meta, key, checkpoint, static_cast<int64_t>(range.min),
                                         static_cast<int64_t>(range.max)));
  };
  ModelSection section;
  section.name = metadata_text(meta, "model_name", checkpoint);
  section.depth = ranged("depth", "model_config.depth");
  section.num_classes = ranged("num_classes", "model_config.num_classes");
  const std::string& batchnorm = metadata_text(meta, "batchnorm", checkpoint);
  CONVLAB_CHECK(batchnorm == "true" || batchnorm == "false", "{}: metadata 'batchnorm' is '{}', not true or false",
                checkpoint.string(), batchnorm.substr(0, 200));
  section.batchnorm = batchnorm == "true";

  if (state_size) {
    int64_t held = 0;
    for (const NamedArray& array : file.arrays)
      if (array.name.rfind("optimizer.", 0) != 0 && array.dtype == "F32") held += array.num_elements();
    const int64_t expected = state_size(section);
    CONVLAB_CHECK(held == expected,
                  "{}: its metadata describe {} depth {} with {} classes{}, whose weights and statistics are {} "
                  "values, but the file holds {}: the metadata and the tensors disagree",
                  checkpoint.string(), section.name, section.depth, section.num_classes,
                  section.batchnorm ? "" : " (no BatchNorm)", expected, held);
  }

  LoadedModel loaded;
  loaded.model = factory(section, 0);
  loaded.model->to(device);
  load_checkpoint(file, *loaded.model, nullptr);
  loaded.metadata = meta;
  loaded.path = checkpoint;
  if (meta.count("epoch")) {
    const KeyRange& epochs = config_key_range("train_config.num_epochs");
    loaded.epoch = metadata_int(meta, "epoch", checkpoint, 0, static_cast<int64_t>(epochs.max));
  }
  loaded.model->eval();
  return loaded;
}

}  // namespace convlab
