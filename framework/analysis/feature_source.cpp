#include "framework/analysis/feature_source.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <set>

#include "framework/autograd/variable.h"
#include "framework/io/npy.h"
#include "framework/io/file_checksum.h"
#include "framework/io/npy_stream.h"
#include "framework/train/batches.h"

namespace convlab {
namespace {

// The index of the first NaN or infinity of an f32 or f64 CPU tensor, or -1.
int64_t first_non_finite(const Tensor& t) {
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double value = t.dtype() == DType::f32 ? static_cast<const float*>(t.raw())[i]
                                                 : static_cast<const double*>(t.raw())[i];
    if (!std::isfinite(value)) return i;
  }
  return -1;
}

}  // namespace

ModelFeatureSource::ModelFeatureSource(nn::Model& model, const DeviceImageSet& images, std::string description)
    : model_(model),
      images_(images),
      description_(std::move(description)),
      order_(identity_order(images.size(), images.images.device())) {}

std::vector<Tensor> ModelFeatureSource::batch(int64_t first, int64_t count) {
  std::vector<Tensor> out = device_batch(first, count);
  for (Tensor& t : out)
    if (!t.device().is_cpu()) t = t.to(cpu());
  return out;
}

std::vector<Tensor> ModelFeatureSource::device_batch(int64_t first, int64_t count) {
  model_.eval();
  if (!folded_) {  // once per source, that is per checkpoint: the weights do not change here
    model_.fold_batchnorm();
    folded_ = true;
  }
  NoGradGuard no_grad;
  Batch input = assemble_batch(images_, order_, first, count, kernels::cifar10_augment_config(false, false, false),
                               /*augment=*/false, 0, 0, storage_);
  std::vector<Variable> features;
  nn::ForwardContext ctx;
  ctx.features = &features;
  model_.forward(Variable(std::move(input.images)), ctx);
  std::vector<Tensor> out;
  for (Variable& f : features) {
    const int64_t width = f.value().numel() / count;
    // Without gradients no graph holds the activations: where this list is the only holder of
    // a layer's Variable, its memory is taken as it is. A Variable held elsewhere too (a
    // model that hands one tensor out twice) is copied, so that taking it changes nothing.
    Tensor values = f.data().use_count() == 1 ? std::move(f.mutable_value()) : f.value().clone();
    if (values.dtype() == DType::bf16) {
      Tensor widened = Tensor::empty(values.shape(), DType::f32, values.device(), values.format());
      backend(values.device()).convert(values, widened);
      values = std::move(widened);
    }
    out.push_back(std::move(values).reshaped({count, width}));
  }
  return out;
}

NpyFeatureSource::NpyFeatureSource(const std::vector<std::filesystem::path>& files) {
  CONVLAB_CHECK(!files.empty(), "no .npy feature files given");
  for (const auto& file : files) {
    auto reader = std::make_unique<NpyRowReader>(file);
    const NpyHeader& header = reader->header();
    CONVLAB_CHECK(header.dtype == DType::f32 || header.dtype == DType::f64,
                  "{}: features must be float32 or float64, not {}", file.string(), dtype_name(header.dtype));
    CONVLAB_CHECK(!header.shape.empty() && header.shape[0] > 0, "{}: features need a first dimension of examples",
                  file.string());
    const int64_t n = header.shape[0];
    CONVLAB_CHECK(readers_.empty() || n == examples_, "{} has {} examples but {} has {}: every feature file needs "
                  "the same examples", file.string(), n, files.front().string(), examples_);
    int64_t width = 1;
    for (size_t d = 1; d < header.shape.size(); ++d) width *= header.shape[d];
    CONVLAB_CHECK(width > 0, "{}: shape {} holds no features for its {} examples; every layer needs at least one "
                  "feature per example", file.string(), Shape(header.shape).str(), n);
    examples_ = n;
    widths_.push_back(width);
    readers_.push_back(std::move(reader));
    names_.push_back(file.stem().string());
  }
}

std::string NpyFeatureSource::description() const {
  return fmt::format("{} .npy feature files ({} examples)", readers_.size(), examples_);
}

std::vector<Tensor> NpyFeatureSource::batch(int64_t first, int64_t count) {
  std::vector<Tensor> out;
  for (size_t l = 0; l < readers_.size(); ++l) {
    Tensor part = Tensor::empty({count, widths_[l]}, readers_[l]->header().dtype, cpu());  // (count, p)
    readers_[l]->read_rows(first, count, part.raw());
    // A NaN would turn every value with this layer into NaN: named here by file and example.
    const int64_t bad = first_non_finite(part);
    CONVLAB_CHECK(bad < 0, "{}: feature {} of example {} is not finite ({}); CKA, RSA and Procrustes need finite "
                  "features", readers_[l]->header().path.string(), bad % widths_[l], first + bad / widths_[l],
                  part.dtype() == DType::f32 ? static_cast<double>(static_cast<const float*>(part.raw())[bad])
                                             : static_cast<const double*>(part.raw())[bad]);
    out.push_back(std::move(part));
  }
  return out;
}

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

// A file as an export's manifest lists it.
struct ListedFile {
  std::vector<int64_t> shape;
  std::optional<uint64_t> bytes;
  std::optional<uint32_t> crc32;
};

// The manifest.json of a features export.
struct ExportManifest {
  fs::path path;
  std::string id;          // its export_id; empty in a manifest of an older convlab
  // What tells its examples apart: the data set and split, and the indices in order (by
  // indices.npy's checksum; an older manifest has only the selection in words).
  std::string data, indices_crc32, selection;
  std::string checkpoint;  // the network, for messages
  std::map<std::string, ListedFile> files;

  std::string key() const { return id.empty() ? path.string() : id; }
  bool same_examples(const ExportManifest& other) const {
    if (data != other.data) return false;
    if (!indices_crc32.empty() && !other.indices_crc32.empty()) return indices_crc32 == other.indices_crc32;
    return selection == other.selection;
  }
};

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "(";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + (shape.size() == 1 ? ",)" : ")");
}

// The manifest of the export in `dir`; nullopt when there is none or it is not convlab's.
std::optional<ExportManifest> read_export_manifest(const fs::path& dir) {
  const fs::path path = dir / "manifest.json";
  std::error_code error;
  if (!fs::is_regular_file(path, error)) return std::nullopt;
  std::ifstream in(path);
  const Json j = Json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("format") || !j["format"].is_string() ||
      j["format"].get<std::string>().rfind("convlab-features", 0) != 0)
    return std::nullopt;  // someone else's manifest.json: it says nothing about these files
  ExportManifest m;
  m.path = path;
  try {
    m.id = j.value("export_id", std::string());
    const Json& data = j.at("data");
    const Json& checkpoint = j.value("checkpoint", Json::object());
    m.checkpoint = checkpoint.value("path", std::string("?"));
    if (checkpoint.contains("epoch"))
      m.checkpoint += " (epoch " + (checkpoint["epoch"].is_string() ? checkpoint["epoch"].get<std::string>()
                                                                    : checkpoint["epoch"].dump()) + ")";
    if (j.contains("files")) {
      for (const Json& f : j.at("files")) {
        ListedFile listed{f.at("shape").get<std::vector<int64_t>>(), f.at("bytes").get<uint64_t>(), std::nullopt};
        if (f.contains("crc32")) listed.crc32 = static_cast<uint32_t>(std::stoul(f["crc32"].get<std::string>(), nullptr, 16));
        m.files[f.at("file").get<std::string>()] = listed;
      }
    } else {  // an older convlab's manifest: the feature files are (examples, features)
      const int64_t n = data.at("examples").get<int64_t>();
      Json entries = j.value("layers", Json::array());
      if (j.contains("logits")) entries.push_back(j["logits"]);
      for (const Json& e : entries)
        m.files[e.at("file").get<std::string>()] = {{n, e.at("features").get<int64_t>()}, std::nullopt, std::nullopt};
    }
    // The same data, split and indices (in order) mean the same examples.
    m.data = data.value("fingerprint", std::string()) + " / " + data.value("split", std::string());
    m.selection = data.value("selection", std::string()) + " / " + std::to_string(data.value("examples", int64_t{0}));
    if (const auto it = m.files.find("indices.npy"); it != m.files.end() && it->second.crc32)
      m.indices_crc32 = fmt::format("{:08x}", *it->second.crc32);
  } catch (const std::exception& e) {
    CONVLAB_FAIL("{} is the manifest of a feature export but cannot be read ({}): export the features again, or "
                 "move the .npy files to a folder of their own", path.string(), e.what());
  }
  return m;
}

std::string size_text(uint64_t bytes) {
  return bytes >= 1'000'000'000 ? fmt::format("{:.1f} GB", bytes / 1e9) : fmt::format("{:.0f} MB", bytes / 1e6);
}

}  // namespace

FeatureFileOrigins check_feature_file_origins(const std::vector<std::vector<fs::path>>& lists,
                                              uint64_t verify_checksums_up_to) {
  // One manifest per folder, read once.
  std::map<fs::path, std::optional<ExportManifest>> manifests;
  auto manifest_of = [&](const fs::path& file) -> const std::optional<ExportManifest>& {
    const fs::path dir = file.parent_path().empty() ? fs::path(".") : file.parent_path();
    std::error_code error;
    fs::path key = fs::weakly_canonical(dir, error);
    if (error) key = dir.lexically_normal();
    auto it = manifests.find(key);
    if (it == manifests.end()) it = manifests.emplace(key, read_export_manifest(dir)).first;
    return it->second;
  };

  // Every file against its manifest's line: listed, with the shape and size it has.
  uint64_t checked_bytes = 0;
  std::vector<std::pair<fs::path, const ExportManifest*>> to_verify;
  for (const auto& list : lists)
    for (const fs::path& file : list) {
      const std::optional<ExportManifest>& m = manifest_of(file);
      if (!m) continue;
      const std::string name = file.filename().string();
      const auto listed = m->files.find(name);
      CONVLAB_CHECK(listed != m->files.end(),
                    "{} lies in the folder of a feature export but {} does not list it: it is not a file of that "
                    "export (of {}), so nothing says its rows are that export's examples. Move it out of the "
                    "export's folder, or export the layer again", file.string(), m->path.string(), m->checkpoint);
      const NpyHeader header = read_npy_header(file);
      CONVLAB_CHECK(header.shape == listed->second.shape,
                    "{} holds an array of shape {}, but {} lists it with shape {}: it changed after the export; "
                    "export the features again", file.string(), shape_text(header.shape), m->path.string(),
                    shape_text(listed->second.shape));
      std::error_code error;
      const uint64_t bytes = fs::file_size(file, error);
      CONVLAB_CHECK(!listed->second.bytes || error || bytes == *listed->second.bytes,
                    "{} has {} bytes, but {} lists {}: it changed after the export; export the features again",
                    file.string(), bytes, m->path.string(), *listed->second.bytes);
      if (listed->second.crc32) {
        checked_bytes += bytes;
        to_verify.emplace_back(file, &*m);
      }
    }
  const bool verify = !to_verify.empty() && checked_bytes <= verify_checksums_up_to;
  if (verify)
    for (const auto& [file, m] : to_verify) {
      const uint32_t want = *m->files.at(file.filename().string()).crc32, got = file_crc32(file);
      CONVLAB_CHECK(got == want, "{} has CRC-32 {:08x}, but {} lists {:08x}: it changed after the export; export the "
                    "features again", file.string(), got, m->path.string(), want);
    }

  // Every export involved must be of the same examples, on both sides.
  const ExportManifest* first = nullptr;
  fs::path first_file;
  for (const auto& list : lists)
    for (const fs::path& file : list) {
      const std::optional<ExportManifest>& m = manifest_of(file);
      if (!m) continue;
      if (!first) {
        first = &*m;
        first_file = file;
      }
      CONVLAB_CHECK(m->same_examples(*first),
                    "{} ({}) and {} ({}) hold features of different examples: CKA, RSA and Procrustes compare the same "
                    "examples in the same order. Export both with the same --examples or --indices and --split",
                    first_file.string(), first->path.string(), file.string(), m->path.string());
    }

  FeatureFileOrigins out;
  for (size_t l = 0; l < lists.size(); ++l) {
    std::vector<const ExportManifest*> exports;
    std::set<std::string> ids;
    size_t listed = 0;
    bool with_checksums = false;  // an older convlab's manifest has none
    for (const fs::path& file : lists[l]) {
      const std::optional<ExportManifest>& m = manifest_of(file);
      if (!m) continue;
      ++listed;
      with_checksums = with_checksums || m->files.at(file.filename().string()).crc32.has_value();
      if (ids.insert(m->key()).second) exports.push_back(&*m);
    }
    const std::string checks = !with_checksums ? "shapes checked"
                               : verify        ? "shapes, sizes and CRC-32 checked"
                                               : fmt::format("shapes and sizes checked; CRC-32 not verified: {} of "
                                                             "files, one more read of each", size_text(checked_bytes));
    const size_t plain = lists[l].size() - listed;
    std::string line;
    if (exports.size() == 1)
      line = fmt::format("{} file{} of one export ({}, {}; {})", listed, listed == 1 ? "" : "s",
                         exports[0]->path.string(),
                         exports[0]->id.empty() ? "an older convlab's, without an export id" : "export " + exports[0]->id,
                         checks);
    else if (exports.size() > 1) {
      std::string where, which;
      for (const ExportManifest* m : exports) {
        where += (where.empty() ? "" : ", ") + m->path.string();
        which += (which.empty() ? "" : "; ") + m->path.string() + ": " + m->checkpoint;
      }
      line = fmt::format("{} files of {} exports of the same examples ({}; {})", listed, exports.size(), where, checks);
      out.warnings.push_back(fmt::format("the {} come from {} feature exports ({}): one network's layers usually come "
                                         "from one export", l > 0 ? "files after --vs" : lists.size() > 1 ? "files before --vs" : "files",
                                         exports.size(), which));
    }
    if (plain > 0)
      line += fmt::format("{}{} .npy file{} without a manifest (only the row counts checked)", line.empty() ? "" : ", ",
                          plain, plain == 1 ? "" : "s");
    out.lines.push_back(line);
  }
  return out;
}

}  // namespace convlab
