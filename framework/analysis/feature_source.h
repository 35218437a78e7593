// Where CKA gets layer features from, one batch of examples at a time: a trained network run
// over images, or .npy files written by any framework.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "framework/core/tensor.h"
#include "framework/io/npy.h"
#include "framework/nn/model.h"
#include "framework/train/device_dataset.h"
#include "framework/train/precision.h"

namespace convlab {

class FeatureSource {
 public:
  virtual ~FeatureSource() = default;
  virtual std::string description() const = 0;
  virtual std::vector<std::string> layer_names() const = 0;
  virtual int64_t examples() const = 0;
  // The features of examples [first, first + count) at every layer: CPU tensors (count, p_l),
  // f32 or f64.
  virtual std::vector<Tensor> batch(int64_t first, int64_t count) = 0;
  // Where device_batch() leaves the features.
  virtual Device device() const { return cpu(); }
  // The same features as batch(), (count, p_l) each, but on device(): a model on a GPU hands
  // them to a GPU CKA without a round trip through host memory.
  virtual std::vector<Tensor> device_batch(int64_t first, int64_t count) { return batch(first, count); }
};

// A model in eval mode over `images` (on the model's device), one batch at a time, so only
// one batch of features is ever held: batch() copies them to the host, device_batch() leaves
// them on the model's device. Each example's activations are flattened in memory order:
// (C, H, W) for contiguous activations, (H, W, C) for channels_last ones -- a permutation of
// the feature columns, to which CKA is invariant. bf16 activations are handed on as f32.
class ModelFeatureSource final : public FeatureSource {
 public:
  ModelFeatureSource(nn::Model& model, const DeviceImageSet& images, std::string description);
  std::string description() const override { return description_; }
  std::vector<std::string> layer_names() const override { return model_.feature_names(); }
  int64_t examples() const override { return images_.size(); }
  std::vector<Tensor> batch(int64_t first, int64_t count) override;
  Device device() const override { return images_.images.device(); }
  std::vector<Tensor> device_batch(int64_t first, int64_t count) override;
  // The storage the model is run in (f32 contiguous unless set).
  void set_input_storage(const BatchStorage& storage) { storage_ = storage; }

 private:
  nn::Model& model_;
  const DeviceImageSet& images_;
  std::string description_;
  BatchStorage storage_;
  bool folded_ = false;
  Tensor order_;  // 0 .. n-1 on the images' device, uploaded once rather than per batch
};

// One .npy file per layer, each (n, p) (higher ranks are flattened per example), f32 or f64;
// all files must have the same n. Layers are named after the files. The files are streamed:
// the constructor reads their headers only, and batch() reads just that batch's rows of each
// file, so memory holds one batch of every layer, never a whole file.
class NpyFeatureSource final : public FeatureSource {
 public:
  explicit NpyFeatureSource(const std::vector<std::filesystem::path>& files);
  std::string description() const override;
  std::vector<std::string> layer_names() const override { return names_; }
  int64_t examples() const override { return examples_; }
  std::vector<Tensor> batch(int64_t first, int64_t count) override;

 private:
  std::vector<std::string> names_;
  std::vector<std::unique_ptr<NpyRowReader>> readers_;  // one per layer
  std::vector<int64_t> widths_;                         // p per layer
  int64_t examples_ = 0;
};

// Where feature files come from, as far as can be told. A features export (convlab-analyze
// features) leaves a manifest.json beside its files that lists each with its shape, size
// and CRC-32 under the export's id; files with such a manifest beside them are checked
// against it, for a layer of another network left in an export's folder, or a file changed
// after the export, would give a wrong comparison without any other sign.
struct FeatureFileOrigins {
  // One line per list of files (the rows', then the --vs ones), e.g. "3 files of one export
  // (f/manifest.json, export 20261206T143000Z-...; shapes, sizes and CRC-32 checked)".
  std::vector<std::string> lines;
  // What a user should know but that need not be wrong: one list's files from several exports.
  std::vector<std::string> warnings;
};

// Checksums are verified when all the files together are at most this large: one more read of
// each file, about a second at zlib's CRC-32 speed. Larger inputs (a full export's conv layers
// run to gigabytes) are checked by shape and size, which catch a file that was replaced or cut
// short, and the line says so.
inline constexpr uint64_t kVerifyChecksumsUpTo = uint64_t{1} << 30;

// Checks `lists` (the rows' files, then the --vs ones) against the manifests beside them.
// Errors: a file in an export's folder that its manifest does not list (not a file of that
// export), a file whose shape, size or checksum differs from its manifest's (changed since),
// and exports of different examples (CKA compares the same examples in the same order).
// Files without a manifest are left to the row-count check of NpyFeatureSource.
FeatureFileOrigins check_feature_file_origins(const std::vector<std::vector<std::filesystem::path>>& lists,
                                              uint64_t verify_checksums_up_to = kVerifyChecksumsUpTo);

}  // namespace convlab
