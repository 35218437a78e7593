#include "framework/analysis/evolution.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <utility>

#include "framework/core/error.h"
#include "framework/io/config.h"
#include "framework/io/safetensors.h"
#include "framework/train/checkpoint.h"

namespace convlab {
namespace fs = std::filesystem;

namespace {

struct TensorShape {
  std::string dtype;
  std::vector<int64_t> shape;
  bool operator==(const TensorShape&) const = default;
};

// What a checkpoint says about itself, without its tensors' data: a run has hundreds of
// checkpoints, and only the ones that pass are then loaded.
struct CheckpointHeader {
  std::map<std::string, std::string> metadata;
  std::map<std::string, TensorShape> tensors;  // the model's; optimiser state left out
};

std::string shape_text(const TensorShape& tensor) {
  std::string text = tensor.dtype + " [";
  for (size_t i = 0; i < tensor.shape.size(); ++i) text += (i ? ", " : "") + std::to_string(tensor.shape[i]);
  return text + "]";
}

CheckpointHeader read_header(const fs::path& path) {
  const SafetensorsFile file = read_safetensors_header(path);
  CheckpointHeader header;
  header.metadata = file.metadata;
  for (const NamedArray& array : file.arrays)
    if (array.name.rfind("optimizer.", 0) != 0) header.tensors[array.name] = TensorShape{array.dtype, array.shape};
  return header;
}

// The keys that say which network a checkpoint holds (see load_model).
constexpr const char* kNetworkKeys[] = {"model_name", "depth", "num_classes", "batchnorm"};

std::string network_of(const CheckpointHeader& header) {
  std::string text;
  for (const char* key : kNetworkKeys) {
    const auto it = header.metadata.find(key);
    text += fmt::format("{}{} {}", text.empty() ? "" : ", ", key,
                        it == header.metadata.end() ? "(none)" : message_excerpt(it->second));
  }
  return text;
}

// How `header` differs from `final` as a network, or nullopt when it is the same.
std::optional<std::string> network_difference(const CheckpointHeader& header, const CheckpointHeader& final) {
  for (const char* key : kNetworkKeys) {
    const auto a = header.metadata.find(key);
    const auto b = final.metadata.find(key);
    const bool a_set = a != header.metadata.end(), b_set = b != final.metadata.end();
    if (a_set != b_set || (a_set && a->second != b->second))
      return fmt::format("its metadata say {}, the final checkpoint's {}", network_of(header), network_of(final));
  }
  for (const auto& [name, tensor] : final.tensors) {
    const auto it = header.tensors.find(name);
    if (it == header.tensors.end()) return fmt::format("it has no tensor {}", message_excerpt(name, "'"));
    if (!(it->second == tensor))
      return fmt::format("its tensor {} is {}, the final checkpoint's is {}", message_excerpt(name, "'"),
                         shape_text(it->second), shape_text(tensor));
  }
  for (const auto& [name, tensor] : header.tensors)
    if (!final.tensors.count(name))
      return fmt::format("it has a tensor {} that the final checkpoint lacks", message_excerpt(name, "'"));
  return std::nullopt;
}

}  // namespace

std::vector<RunCheckpoint> list_checkpoints(const fs::path& run_dir) {
  CONVLAB_CHECK(fs::is_directory(run_dir), "{} is not a folder: give the run's experiment_dir", run_dir.string());
  const fs::path dir = fs::is_directory(run_dir / "checkpoints") ? run_dir / "checkpoints" : run_dir;
  const int64_t max_epoch = static_cast<int64_t>(config_key_range("train_config.num_epochs").max);
  const std::regex pattern(R"(epoch_(\d+)\.safetensors)");

  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir))
    if (std::regex_match(entry.path().filename().string(), pattern)) files.push_back(entry.path());
  CONVLAB_CHECK(!files.empty(), "no checkpoints (epoch_NNNN.safetensors) in {}", dir.string());
  std::sort(files.begin(), files.end());  // messages name the same file whatever the folder's order

  std::vector<std::pair<RunCheckpoint, CheckpointHeader>> found;
  for (const fs::path& file : files) {
    const std::string name = file.filename().string();
    const std::string digits = name.substr(6, name.size() - 6 - std::string(".safetensors").size());
    int64_t named = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), named);
    if (ec != std::errc() || end != digits.data() + digits.size() || named > max_epoch)
      CONVLAB_FAIL("{}: the epoch {} in its name is out of range (0 to {}): rename or remove the file", file.string(),
                   message_excerpt(digits), max_epoch);
    CheckpointHeader header = read_header(file);
    int64_t epoch = named;
    if (header.metadata.count("epoch")) {
      epoch = metadata_int(header.metadata, "epoch", file, 0, max_epoch);
      if (epoch != named)
        CONVLAB_FAIL("{}: its name says epoch {} but its metadata say epoch {}: rename it epoch_{:04d}.safetensors "
                     "or remove it",
                     file.string(), named, epoch, epoch);
    }
    found.push_back({{epoch, file}, std::move(header)});
  }
  std::stable_sort(found.begin(), found.end(),
                   [](const auto& a, const auto& b) { return a.first.epoch < b.first.epoch; });
  for (size_t i = 1; i < found.size(); ++i)
    if (found[i].first.epoch == found[i - 1].first.epoch)
      CONVLAB_FAIL("{} and {} are both epoch {}: keep one of them", found[i - 1].first.file.string(),
                   found[i].first.file.string(), found[i].first.epoch);

  const auto& [last, final_header] = found.back();
  std::vector<RunCheckpoint> checkpoints;
  for (const auto& [checkpoint, header] : found) {
    if (const std::optional<std::string> difference = network_difference(header, final_header))
      CONVLAB_FAIL("{} is not a checkpoint of the network of the final one, {}: {}. evolution compares the "
                   "checkpoints of one run; move it out of {}",
                   checkpoint.file.string(), last.file.string(), *difference, dir.string());
    checkpoints.push_back(checkpoint);
  }
  return checkpoints;
}

std::vector<int64_t> grid_epochs(const std::vector<int64_t>& available, size_t count) {
  const std::vector<int64_t> reference{0, 5, 25, 100, 150, 350};
  const bool has_reference = std::all_of(reference.begin(), reference.end(), [&](int64_t e) {
    return std::find(available.begin(), available.end(), e) != available.end();
  });
  if (has_reference && count == reference.size()) return reference;
  if (available.size() <= count) return available;
  std::vector<int64_t> picked;
  for (size_t i = 0; i < count; ++i) {
    const int64_t e = available[i * (available.size() - 1) / (count - 1)];
    if (picked.empty() || picked.back() != e) picked.push_back(e);
  }
  return picked;
}

}  // namespace convlab
