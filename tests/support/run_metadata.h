// Checkpoints of two runs of one config in different folders: their metadata must agree but
// for the run folder, which the config they record names (log_config.experiment_dir).
#pragma once

#include <map>
#include <string>

namespace convlab::test_support {

// The checkpoint's metadata with the experiment_dir line of its "config" entry made generic.
std::map<std::string, std::string> metadata_without_run_folder(const std::map<std::string, std::string>& metadata);

}  // namespace convlab::test_support
