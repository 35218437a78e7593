// Two runs of one config in different folders, compared: a resumed run against the
// uninterrupted one. Their metrics agree but for the wall-clock columns, their checkpoints'
// metadata but for the run folder, which the config they record names.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace convlab::test_support {

// The checkpoint's metadata with the experiment_dir line of its "config" entry made generic.
std::map<std::string, std::string> metadata_without_run_folder(const std::map<std::string, std::string>& metadata);

// The rows of a metrics.csv without its wall-clock columns (seconds, images/s), one string each.
std::vector<std::string> metrics_without_times(const std::filesystem::path& csv);

}  // namespace convlab::test_support
