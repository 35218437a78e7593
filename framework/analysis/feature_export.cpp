#include "framework/analysis/feature_export.h"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <fstream>
#include <memory>
#include <random>
#include <set>
#include <sstream>

#include "framework/autograd/variable.h"
#include "framework/core/version.h"
#include "framework/io/atomic_file.h"
#include "framework/io/npy.h"
#include "framework/io/npy_stream.h"
#include "framework/io/output_folder.h"
#include "framework/train/batches.h"
#include "framework/train/device_dataset.h"

namespace convlab {
namespace fs = std::filesystem;

namespace {

using Json = nlohmann::ordered_json;

constexpr const char* kFlattening =
    "C order: feature (c, h, w) of a (C, H, W) layer is column (c * H + h) * W + w, as numpy's "
    "reshape(n, -1) and torch's flatten(1) of NCHW activations";
constexpr const char* kIndexOrder =
    "positions in the split as convlab reads the source: the binary release's records in file order; an image "
    "folder class by class (in class_names order), each class's files sorted by name";

constexpr const char* kExportChecksum = "crc32";  // the manifest's key for each file's checksum
constexpr const char* kChecksumNote =
    "crc32: zlib's CRC-32 of each whole file (header and data) as 8 hex digits, what Python's "
    "format(zlib.crc32(open(file, 'rb').read()), '08x') prints";

// An id that tells this export from every other: when it was written, and 64 random bits.
std::string new_export_id() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char when[32];
  std::strftime(when, sizeof(when), "%Y%m%dT%H%M%SZ", &utc);
  std::random_device random;
  const uint64_t bits = (static_cast<uint64_t>(random()) << 32) ^ random();
  return fmt::format("{}-{:016x}", when, bits);
}

// Names the export's own files take; a layer cannot have them.
const std::set<std::string>& reserved_stems() {
  static const std::set<std::string> names = {"labels", "indices", "images", "manifest"};
  return names;
}

std::string first_word(const std::string& name) { return name.substr(0, name.find(' ')); }

// Positions in `names` of the requested layers (all when none), in the model's order.
std::vector<size_t> choose_layers(const std::vector<std::string>& names, const std::vector<std::string>& requested) {
  std::vector<size_t> chosen;
  if (requested.empty()) {
    for (size_t i = 0; i < names.size(); ++i) chosen.push_back(i);
    return chosen;
  }
  std::string known;
  for (size_t i = 0; i < names.size(); ++i) known += (i ? ", " : "") + feature_file_stem(names[i]);
  std::set<size_t> picked;
  for (const std::string& want : requested) {
    std::vector<size_t> matches;
    for (size_t i = 0; i < names.size(); ++i)
      if (names[i] == want || feature_file_stem(names[i]) == want) matches = {i};
    if (matches.empty())
      for (size_t i = 0; i < names.size(); ++i)
        if (first_word(names[i]) == want) matches.push_back(i);
    CONVLAB_CHECK(matches.size() == 1, "--layers: {} layer '{}' (the layers: {})",
                  matches.empty() ? "no" : "more than one", want, known);
    picked.insert(matches.front());
  }
  return {picked.begin(), picked.end()};
}

std::vector<int64_t> per_example_shape(const Tensor& batch) {
  const std::vector<int64_t>& dims = batch.shape().dims();
  return {dims.begin() + 1, dims.end()};
}

int64_t product(const std::vector<int64_t>& dims) {
  int64_t p = 1;
  for (int64_t d : dims) p *= d;
  return p;
}

// Appends the (count, ...) f32 activations of one batch, copied to the host if need be.
void append_rows(NpyStreamWriter& writer, const Tensor& t, int64_t count) {
  CONVLAB_CHECK(t.dtype() == DType::f32, "features are exported as float32; the model gave {}", t.describe());
  if (t.device().is_cpu()) return writer.append(t.raw(), count);
  const Tensor host = t.to(cpu());
  writer.append(host.raw(), count);
}

// A metadata value that holds JSON (input_mean) as JSON; any other text as a string.
Json json_or_text(const std::string& value) {
  const Json parsed = Json::parse(value, nullptr, /*allow_exceptions=*/false);
  return parsed.is_discarded() || parsed.is_string() ? Json(value) : parsed;
}

Json array_entry(const ExportedArray& a, const char* dtype) {
  Json entry{{"name", a.name}, {"file", a.file.filename().string()}, {"dtype", dtype}};
  if (!a.shape.empty()) {
    entry["shape"] = a.shape;
    entry["features"] = product(a.shape);
  }
  return entry;
}

// The manifest's line for a file: what convlab-analyze files checks a file against.
Json file_entry(const ExportedArray& a, const char* dtype) {
  return Json{{"file", a.file.filename().string()}, {"dtype", dtype}, {"shape", a.file_shape}, {"bytes", a.bytes},
              {kExportChecksum, fmt::format("{:08x}", a.crc32)}};
}

// What a finished writer wrote, for the manifest.
void record_file(ExportedArray& a, const NpyStreamWriter& writer) {
  a.file_shape = writer.shape();
  a.bytes = writer.bytes_written();
  a.crc32 = writer.crc32();
}

}  // namespace

std::string feature_file_stem(const std::string& layer) {
  std::string stem;
  bool gap = false;
  for (const char c : layer) {
    const bool keep = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
    if (!keep) {
      gap = true;
      continue;
    }
    if (gap && !stem.empty()) stem += '_';
    gap = false;
    stem += c;
  }
  return stem.empty() ? "layer" : stem;
}

std::vector<int32_t> select_examples(int64_t total, int64_t count) {
  if (count <= 0 || count >= total) {
    std::vector<int32_t> all(static_cast<size_t>(total));
    for (int64_t i = 0; i < total; ++i) all[i] = static_cast<int32_t>(i);
    return all;
  }
  std::vector<int32_t> chosen = choose_examples(total, count, 0);
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

ExampleCount count_examples(int64_t requested, int64_t available, const std::string& of_what) {
  if (requested <= 0 || requested <= available) return {requested <= 0 ? available : requested, {}};
  return {available, fmt::format("--examples {} asks for more {} than there are ({}): using all {}", requested,
                                 of_what, available, available)};
}

std::vector<int32_t> read_example_indices(const fs::path& file, int64_t total) {
  CONVLAB_CHECK(fs::is_regular_file(file), "--indices: {} does not exist or is not a file", file.string());
  std::vector<int64_t> values;
  if (file.extension() == ".npy") {
    values = read_npy_integers(file);
  } else {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    std::string all = text.str();
    std::replace(all.begin(), all.end(), ',', ' ');
    std::istringstream words(all);
    std::string word;
    while (words >> word) {
      size_t used = 0;
      long long value = 0;
      bool too_large = false;
      try {
        value = std::stoll(word, &used);
      } catch (const std::out_of_range&) {
        too_large = true;  // digits, but more than any index can have
      } catch (const std::exception&) {
        used = 0;
      }
      CONVLAB_CHECK(!too_large, "{}: entry {} ('{}') is out of range: indices run from 0 to {}", file.string(),
                    values.size() + 1, word.size() > 40 ? word.substr(0, 40) + "..." : word, total - 1);
      CONVLAB_CHECK(used == word.size() && used > 0, "{}: entry {} ('{}') is not a whole number", file.string(),
                    values.size() + 1, word);
      values.push_back(value);
    }
  }
  CONVLAB_CHECK(!values.empty(), "{} lists no example indices", file.string());
  std::vector<int32_t> indices;
  indices.reserve(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    CONVLAB_CHECK(values[i] >= 0 && values[i] < total, "{}: index {} (entry {}) is outside the split of {} examples",
                  file.string(), values[i], i + 1, total);
    indices.push_back(static_cast<int32_t>(values[i]));
  }
  return indices;
}

std::vector<ExportedArray> export_features(nn::Model& model, Device device, const Cifar10& data, const ImageSet& split,
                                           const std::vector<int32_t>& indices, const FeatureExportRequest& request) {
  ReplacedFolder folder(request.output, FolderKind::feature_export, "convlab-analyze");
  std::vector<ExportedArray> written = export_features(model, device, data, split, indices, request, folder);
  folder.commit();
  return written;
}

std::vector<ExportedArray> export_features(nn::Model& model, Device device, const Cifar10& data, const ImageSet& split,
                                           const std::vector<int32_t>& indices, const FeatureExportRequest& request,
                                           ReplacedFolder& folder) {
  const auto start = std::chrono::steady_clock::now();
  const int64_t n = static_cast<int64_t>(indices.size());
  CONVLAB_CHECK(n > 0, "no examples to export");
  CONVLAB_CHECK(request.batch_size >= 1, "the batch size must be >= 1, got {}", request.batch_size);
  const std::vector<std::string> names = model.feature_names();
  const std::vector<size_t> chosen = choose_layers(names, request.layers);
  std::set<std::string> stems;
  for (size_t i : chosen) {
    const std::string stem = feature_file_stem(names[i]);
    CONVLAB_CHECK(!reserved_stems().count(stem), "layer '{}' would overwrite {}.npy", names[i], stem);
    CONVLAB_CHECK(stems.insert(stem).second, "two layers have the file name {}.npy", stem);
  }
  const fs::path& staging = folder.staging();
  // An array of the export: written in the staging folder, recorded under its final path.
  auto array = [&](const std::string& name, const std::string& file, std::vector<int64_t> shape) {
    return ExportedArray{name, folder.final_path(staging / file), std::move(shape), {}, 0, 0};
  };
  auto staged = [&](const ExportedArray& a) { return staging / a.file.filename(); };

  const DeviceImageSet images = upload(split, device, indices);  // (n, 3, 32, 32) u8: the inputs, not features
  const Tensor order = identity_order(n, device);
  const kernels::AugmentConfig normalise = kernels::cifar10_augment_config(false, false, false);
  model.eval();
  NoGradGuard no_grad;

  // Opened once the first batch has shown the shapes; headers carry the final n.
  std::vector<std::unique_ptr<NpyStreamWriter>> writers(chosen.size());
  std::unique_ptr<NpyStreamWriter> logits_writer;
  std::vector<ExportedArray> layers(chosen.size());
  ExportedArray logits = array("logits", "logits.npy", {});
  ExportedArray images_file = array("images", "images.npy", {3, 32, 32});
  NpyStreamWriter images_writer(staged(images_file), DType::u8, {n, 3, 32, 32});
  for (int64_t first = 0; first < n; first += request.batch_size) {
    const int64_t count = std::min(request.batch_size, n - first);
    Batch batch = assemble_batch(images, order, first, count, normalise, /*augment=*/false, 0, 0);
    std::vector<Variable> features;
    nn::ForwardContext ctx;
    ctx.features = &features;
    const Variable out = model.forward(Variable(std::move(batch.images)), ctx);
    CONVLAB_CHECK(features.size() == names.size(), "the model reported {} features for {} names", features.size(),
                  names.size());
    if (first == 0) {
      logits.shape = per_example_shape(out.value());
      logits_writer = std::make_unique<NpyStreamWriter>(staged(logits), DType::f32,
                                                        std::vector<int64_t>{n, product(logits.shape)});
      for (size_t k = 0; k < chosen.size(); ++k) {
        const std::string stem = feature_file_stem(names[chosen[k]]);
        layers[k] = array(names[chosen[k]], stem + ".npy", per_example_shape(features[chosen[k]].value()));
        // The model's "logits" feature is the output itself: one file holds it.
        if (stem != "logits")
          writers[k] = std::make_unique<NpyStreamWriter>(staged(layers[k]), DType::f32,
                                                         std::vector<int64_t>{n, product(layers[k].shape)});
      }
    }
    append_rows(*logits_writer, out.value(), count);
    for (int64_t i = first; i < first + count; ++i) images_writer.append(split.image(indices[i]), 1);
    for (size_t k = 0; k < chosen.size(); ++k) {
      if (!writers[k]) continue;
      const Tensor& value = features[chosen[k]].value();
      CONVLAB_CHECK(per_example_shape(value) == layers[k].shape, "layer '{}' changed shape between batches",
                    layers[k].name);
      append_rows(*writers[k], value, count);
    }
    fmt::print("features: {} of {} examples\n", first + count, n);
  }

  std::vector<int32_t> labels(indices.size());
  for (size_t i = 0; i < indices.size(); ++i) labels[i] = split.labels[indices[i]];
  ExportedArray labels_file = array("labels", "labels.npy", {});
  ExportedArray indices_file = array("indices", "indices.npy", {});
  NpyStreamWriter labels_writer(staged(labels_file), DType::i32, {n});
  NpyStreamWriter indices_writer(staged(indices_file), DType::i32, {n});
  labels_writer.append(labels.data(), n);
  indices_writer.append(indices.data(), n);
  // Each file complete under its name in the staging folder; the folder as a whole is what
  // the caller swaps in.
  for (size_t k = 0; k < chosen.size(); ++k) {
    if (!writers[k]) continue;
    writers[k]->commit();
    record_file(layers[k], *writers[k]);
  }
  for (auto [file, writer] : {std::pair{&logits, logits_writer.get()}, {&images_file, &images_writer},
                              {&labels_file, &labels_writer}, {&indices_file, &indices_writer}}) {
    writer->commit();
    record_file(*file, *writer);
  }
  for (ExportedArray& layer : layers)
    if (layer.file == logits.file) {
      layer.file_shape = logits.file_shape;
      layer.bytes = logits.bytes;
      layer.crc32 = logits.crc32;
    }

  Json manifest;
  manifest["format"] = "convlab-features-2";
  manifest["export_id"] = new_export_id();
  manifest["convlab_version"] = version();
  Json checkpoint{{"path", request.checkpoint.string()}};
  for (const char* key : {"model", "model_name", "epoch", "format_version", "seed"})
    if (const auto it = request.checkpoint_metadata.find(key); it != request.checkpoint_metadata.end())
      checkpoint[key] = it->second;
  manifest["checkpoint"] = checkpoint;
  manifest["data"] = Json{{"source", data.source_description},
                          {"fingerprint", fmt::format("{:016x}", data.fingerprint)},
                          {"split", request.split},
                          {"split_size", split.size()},
                          {"examples", n},
                          {"selection", request.selection},
                          {"index_order", kIndexOrder},
                          {"class_names", data.class_names}};
  for (const auto& [key, name] : {std::pair{"input", "description"}, {"input_mean", "mean"}, {"input_std", "std"}})
    if (const auto it = request.checkpoint_metadata.find(key); it != request.checkpoint_metadata.end())
      manifest["input"][name] = json_or_text(it->second);
  manifest["flattening"] = kFlattening;
  Json layer_list = Json::array();
  for (const ExportedArray& layer : layers) layer_list.push_back(array_entry(layer, "float32"));
  manifest["layers"] = layer_list;
  manifest["logits"] = array_entry(logits, "float32");
  manifest["images"] = array_entry(images_file, "uint8");
  manifest["images"]["description"] = "the pixels the network saw, before normalisation: planar RGB, (n, 3, 32, 32)";
  manifest["labels"] = array_entry(labels_file, "int32");
  manifest["indices"] = array_entry(indices_file, "int32");
  manifest["device"] = request.device;
  manifest["batch_size"] = request.batch_size;
  std::vector<ExportedArray> written = layers;
  if (std::none_of(layers.begin(), layers.end(), [&](const ExportedArray& a) { return a.file == logits.file; }))
    written.push_back(logits);
  written.push_back(images_file);
  written.push_back(labels_file);
  written.push_back(indices_file);
  // Every file of the export, as it lies on disk: what a reader checks a file against.
  Json files = Json::array();
  for (const ExportedArray& a : written)
    files.push_back(file_entry(a, a.name == "images" ? "uint8" : a.name == "labels" || a.name == "indices" ? "int32"
                                                                                                         : "float32"));
  manifest["checksum"] = kChecksumNote;
  manifest["files"] = files;
  manifest["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  write_file_atomically(staging / "manifest.json", [&](std::ostream& out) { out << manifest.dump(2) << "\n"; });
  return written;
}

}  // namespace convlab
