// Exporting what a trained network computes, for numpy, PyTorch, JAX or convlab-analyze
// files: for chosen examples of a split, one (n, p) float32 .npy per layer, the logits, the
// input pixels, the labels and the indices of the examples, and a manifest.json that says
// what is where.
//
// It streams: each batch's activations are appended to the open files and dropped, so memory
// holds one batch whatever n is. The files are written under hidden names and renamed into
// place at the end, the manifest last: a folder with a manifest.json is complete.
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

struct FeatureExportRequest {
  std::filesystem::path output;     // the folder (created if missing)
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
  std::filesystem::path file;
  std::vector<int64_t> shape;   // of one example before flattening ((C, H, W) or (p)); empty for labels, indices
};

// Runs `model` (in eval mode, on `device`) over the examples `indices` of `split` in that
// order and writes into request.output: one <feature_file_stem(layer)>.npy (n, p) float32 per
// chosen layer, logits.npy (n, classes) float32, images.npy (n, 3, 32, 32) uint8 (the pixels
// before normalisation), labels.npy and indices.npy (n) int32, and manifest.json. `data` supplies the class names, source and fingerprint for the manifest.
// Returns the files written, layers first (the model's "logits" layer is logits.npy).
std::vector<ExportedArray> export_features(nn::Model& model, Device device, const Cifar10& data, const ImageSet& split,
                                           const std::vector<int32_t>& indices, const FeatureExportRequest& request);

// The file name (without .npy) of a layer's features: the name with each run of characters
// other than letters, digits, '.', '-' and '_' turned into one '_', trimmed ("conv1 (1a)" ->
// "conv1_1a", "layer1.0" -> "layer1.0").
std::string feature_file_stem(const std::string& layer);

// The examples `--examples N` takes from a split of `total`: all (0 .. total-1) when count
// <= 0 or count >= total; else the first `count` of one fixed pseudo-random permutation
// (choose_examples(total, count, 0): the images convlab-train's --eval-examples N evaluates
// on), in ascending order.
std::vector<int32_t> select_examples(int64_t total, int64_t count);

// Example indices from a file: a .npy of integers (any numpy integer type) or text with
// integers separated by white space or commas. Each must be in [0, total); errors name the
// file and the entry.
std::vector<int32_t> read_example_indices(const std::filesystem::path& file, int64_t total);

}  // namespace convlab
