#include "tests/support/run_comparison.h"

#include <fmt/core.h>

#include "framework/io/metrics_log.h"

namespace convlab::test_support {

std::map<std::string, std::string> metadata_without_run_folder(const std::map<std::string, std::string>& metadata) {
  std::map<std::string, std::string> result = metadata;
  const auto config = result.find("config");
  if (config == result.end()) return result;
  std::string& text = config->second;
  const std::string key = "\n  experiment_dir: ";
  const size_t at = text.find(key);
  if (at == std::string::npos) return result;
  const size_t value = at + key.size();
  const size_t end = text.find('\n', value);
  text.replace(value, (end == std::string::npos ? text.size() : end) - value, "(the run folder)");
  return result;
}

std::vector<std::string> metrics_without_times(const std::filesystem::path& csv) {
  std::vector<std::string> rows;
  for (const EpochMetrics& m : MetricsLog::read_csv(csv))
    rows.push_back(fmt::format("{} {} {} {} {} {} {}", m.epoch, m.updates, m.lr, m.train_loss, m.train_acc, m.test_loss,
                               m.test_acc));
  return rows;
}

}  // namespace convlab::test_support
