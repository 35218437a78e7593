// The files of a training run's folder (see trainer.h): where each lives, and the folder's
// preparation, which proves it and checkpoints/ writable before any training and removes the
// leftovers of a killed run.
#pragma once

#include <cstdint>
#include <filesystem>

namespace convlab {

struct RunFolder {
  std::filesystem::path dir;

  std::filesystem::path checkpoints() const { return dir / "checkpoints"; }
  std::filesystem::path checkpoint(int64_t epoch) const;  // checkpoints/epoch_NNNN.safetensors
  std::filesystem::path resume_file() const { return dir / "resume.safetensors"; }
  std::filesystem::path config_file() const { return dir / "config.yaml"; }
  // The convolution algorithms a CUDA run chose (conv_algorithm_record), pinned on --resume.
  std::filesystem::path conv_algorithms_file() const { return dir / "conv_algorithms.txt"; }
  // learning_curve.png (and .pdf, .svg when asked for)
  std::filesystem::path learning_curve_stem() const { return dir / "learning_curve"; }

  // Creates the folder and checkpoints/, writes and removes a file in each (an error that says
  // to choose another --output when that fails), and removes the temporary files that killed
  // writers left in them.
  void prepare() const;
};

}  // namespace convlab
