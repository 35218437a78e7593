#include "framework/train/run_record.h"

#include <fmt/core.h>

#include <fstream>
#include <sstream>

#include "framework/core/error.h"
#include "framework/io/safetensors.h"
#include "framework/train/checkpoint.h"

namespace convlab {
namespace fs = std::filesystem;

bool holds_run(const RunFolder& run) {
  std::error_code error;
  for (const fs::path& file : {run.config_file(), run.resume_file(), run.dir / "metrics.csv"})
    if (fs::exists(file, error)) return true;
  for (fs::directory_iterator it(run.checkpoints(), error), end; !error && it != end; it.increment(error))
    if (it->path().extension() == ".safetensors") return true;
  return false;
}

RecordedRun read_recorded_run(const RunFolder& run) {
  RecordedRun recorded;
  const std::string advice = "--force starts a new run there (moving the old files aside)";
  if (fs::exists(run.resume_file())) {
    recorded.config_source = run.resume_file();
    std::map<std::string, std::string> meta;
    try {
      meta = read_safetensors_header(run.resume_file()).metadata;  // the record, not the weights
    } catch (const Error& e) {
      CONVLAB_FAIL("cannot read the run in {}: {}. {}", run.dir.string(), e.what(), advice);
    }
    recorded.config = parse_config(metadata_text(meta, "config", run.resume_file()),
                                   run.resume_file().string() + " (the run's config)");
    recorded.epochs_done = metadata_int(meta, "epoch", run.resume_file(), 1,
                                        static_cast<int64_t>(config_key_range("train_config.num_epochs").max));
    if (meta.count("eval_examples"))
      recorded.eval_examples = metadata_int(meta, "eval_examples", run.resume_file(), 1, int64_t{1} << 40);
    if (meta.count("metrics"))
      recorded.last_row = MetricsLog::parse_row_text(meta.at("metrics"), run.resume_file().string());
    return recorded;
  }
  CONVLAB_CHECK(fs::exists(run.config_file()),
                "{} holds parts of a run (metrics or checkpoints) but neither {} nor {} to say which: {}",
                run.dir.string(), run.config_file().filename().string(), run.resume_file().filename().string(), advice);
  std::ifstream in(run.config_file(), std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  CONVLAB_CHECK(in.good() || in.eof(), "cannot read {}: {}", run.config_file().string(), advice);
  recorded.config_source = run.config_file();
  recorded.config = parse_config(text.str(), run.config_file().string());
  return recorded;
}

bool may_change_on_resume(const std::string& key) {
  return key == "train_config.num_epochs" || key.rfind("log_config.", 0) == 0;
}

std::vector<std::string> setting_differences(const RecordedRun& run, const TrainConfig& now,
                                             std::optional<int64_t> eval_examples_now, bool with_epochs) {
  std::vector<std::string> out;
  for (const ConfigDifference& d : config_differences(run.config, now))
    if (!may_change_on_resume(d.key) || (with_epochs && d.key == "train_config.num_epochs")) out.push_back(fmt::format("{}: {} in the run, {} now", d.key, d.first, d.second));
  if (eval_examples_now && run.eval_examples && *eval_examples_now != *run.eval_examples)
    out.push_back(fmt::format("test images per evaluation (--eval-examples): {} in the run, {} now", *run.eval_examples,
                              *eval_examples_now));
  return out;
}

}  // namespace convlab
