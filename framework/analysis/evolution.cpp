#include "framework/analysis/evolution.h"

#include <algorithm>
#include <regex>

#include "framework/core/error.h"

namespace convlab {

std::vector<RunCheckpoint> list_checkpoints(const std::filesystem::path& run_dir) {
  CONVLAB_CHECK(std::filesystem::is_directory(run_dir), "{} is not a folder: give the run's experiment_dir",
                run_dir.string());
  const std::filesystem::path dir = std::filesystem::is_directory(run_dir / "checkpoints") ? run_dir / "checkpoints" : run_dir;
  const std::regex pattern(R"(epoch_(\d+)\.safetensors)");
  std::vector<RunCheckpoint> found;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::smatch match;
    const std::string name = entry.path().filename().string();
    if (std::regex_match(name, match, pattern)) found.push_back({std::stoll(match[1]), entry.path()});
  }
  CONVLAB_CHECK(!found.empty(), "no checkpoints (epoch_NNNN.safetensors) in {}", dir.string());
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.epoch < b.epoch; });
  return found;
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
