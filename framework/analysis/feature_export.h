// Exporting what a trained network computes, for numpy, PyTorch, JAX or convlab-analyze
// files: for chosen examples of a split, one (n, p) float32 .npy per layer, the logits, the
// input pixels, the labels and the indices of the examples, and a manifest.json that says
// what is where.
//
// It streams: each batch's activations are appended to the open files and dropped, so memory
// holds one batch whatever n is. An export replaces its folder as a whole (ReplacedFolder): it
// is written into a staging folder beside it and swapped in at the end, so the folder holds
// one export, complete, never parts of two. The manifest lists every file with its shape,
// size and CRC-32, under an id of the export, so that a reader (convlab-analyze files) can
// tell the files of one export from others.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "framework/core/device.h"
#include "framework/data/image_set.h"
#include "framework/nn/model.h"

namespace convlab {

class ReplacedFolder;

struct FeatureExportRequest {
  std::filesystem::path output;     // the folder (created if missing; replaced as a whole)
  std::vector<std::string> layers;  // feature names, their file names or first words; empty: all
  int64_t batch_size = 256;
  // What the manifest records.
  std::filesystem::path checkpoint;
  std::map<std::string, std::string> checkpoint_metadata;
  std::string split = "test";       // "test" or "train"
  std::string selection;            // how the examples were chosen, in words
  std::string device;               // where the network ran, in words
};

// One file of an export.
struct ExportedArray {
  std::string name;             // the layer's feature name ("conv1 (1a)"), or logits, images, labels, indices
  std::filesystem::path file;   // where it is once the export is committed
  std::vector<int64_t> shape;   // of one example before flattening ((C, H, W) or (p)); empty for labels, indices
  std::vector<int64_t> file_shape;  // of the array in the file: (n, p), (n, 3, 32, 32) or (n)
  uint64_t bytes = 0;           // the file's size
  uint32_t crc32 = 0;           // zlib's CRC-32 of the whole file
};

// Runs `model` (in eval mode, on `device`) over the examples `indices` of `split` in that
// order and writes into request.output, replacing what it held: one
// <feature_file_stem(layer)>.npy (n, p) float32 per chosen layer, logits.npy (n, classes)
// float32, images.npy (n, 3, 32, 32) uint8 (the pixels before normalisation), labels.npy and
// indices.npy (n) int32, and manifest.json. `data` supplies the class names, source and
// fingerprint for the manifest. The folder is locked meanwhile (a second writer is refused,
// naming this one); one that holds anything but an export is refused, naming --output.
// Returns the files written, layers first (the model's "logits" layer is logits.npy).
std::vector<ExportedArray> export_features(nn::Model& model, Device device, const Cifar10& data, const ImageSet& split,
                                           const std::vector<int32_t>& indices, const FeatureExportRequest& request);
// The same into `folder`'s staging folder (request.output is not used), for a caller that took
// the folder before its slow work (loading data) so that a busy folder is refused at once.
// The files and the manifest name the paths the files have once the caller commits `folder`.
std::vector<ExportedArray> export_features(nn::Model& model, Device device, const Cifar10& data, const ImageSet& split,
                                           const std::vector<int32_t>& indices, const FeatureExportRequest& request,
                                           ReplacedFolder& folder);

// The file name (without .npy) of a layer's features: the name with each run of characters
// other than letters, digits, '.', '-' and '_' turned into one '_', trimmed ("conv1 (1a)" ->
// "conv1_1a", "layer1.0" -> "layer1.0").
std::string feature_file_stem(const std::string& layer);

// How many of `available` examples `--examples requested` gives: all of them when requested
// is 0 (not given) or more than there are; in that last case `warning` says so, naming both
// numbers and `of_what` ("test images", "images of the train split"), for a user who asked
// for more than exists.
struct ExampleCount {
  int64_t count = 0;
  std::string warning;  // empty unless more were requested than there are
};
ExampleCount count_examples(int64_t requested, int64_t available, const std::string& of_what);

// The examples `--examples N` takes from a split of `total`: all (0 .. total-1) when count
// <= 0 or count >= total; else the first `count` of one fixed pseudo-random permutation
// (choose_examples(total, count, 0): the images convlab-train's --eval-examples N evaluates
// on), in ascending order.
std::vector<int32_t> select_examples(int64_t total, int64_t count);

// Example indices from a file: a .npy of integers (any numpy integer type) or text with
// integers separated by white space or commas. Each must be in [0, total); errors name the
// file and the entry (one too large for any integer type is "out of range", like any other
// index outside the split).
std::vector<int32_t> read_example_indices(const std::filesystem::path& file, int64_t total);

}  // namespace convlab
