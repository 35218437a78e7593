// The checkpoints of a training run, for CKA over training.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

namespace convlab {

struct RunCheckpoint {
  int64_t epoch;
  std::filesystem::path file;
};

// run_dir/checkpoints/epoch_NNNN.safetensors (or run_dir itself holding them), by epoch. Only
// the safetensors headers are read, and every checkpoint must fit the run:
//  - its metadata's "epoch" is its epoch, and the number in its name must be the same;
//    a checkpoint without "epoch" in its metadata (convlab always writes it, format 1
//    included; a file converted from elsewhere may lack it) is taken at its name's word;
//  - no two files have the same epoch (epoch_1 and epoch_0001);
//  - it describes the same network as the final (last) checkpoint: the same model_name,
//    depth, num_classes and batchnorm in its metadata, the same tensor names, dtypes and
//    shapes (optimiser state aside).
// Errors name the file (both files for a duplicate epoch) and what to do.
std::vector<RunCheckpoint> list_checkpoints(const std::filesystem::path& run_dir);

// The epochs of the overview grid: the reference's figure (init, 5, 25, 100, 150, 350) when
// the run has them all, else up to `count` spread evenly over what there is, first and last
// included.
std::vector<int64_t> grid_epochs(const std::vector<int64_t>& available, size_t count = 6);

}  // namespace convlab
