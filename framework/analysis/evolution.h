// The checkpoints of a training run, for CKA over training.
#pragma once

#include <filesystem>
#include <vector>

namespace convlab {

struct RunCheckpoint {
  int64_t epoch;
  std::filesystem::path file;
};

// run_dir/checkpoints/epoch_NNNN.safetensors (or run_dir itself holding them), by epoch.
std::vector<RunCheckpoint> list_checkpoints(const std::filesystem::path& run_dir);

// The epochs of the overview grid: the reference's figure (init, 5, 25, 100, 150, 350) when
// the run has them all, else up to `count` spread evenly over what there is, first and last
// included.
std::vector<int64_t> grid_epochs(const std::vector<int64_t>& available, size_t count = 6);

}  // namespace convlab
