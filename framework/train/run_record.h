// What a run folder says about the run in it: the settings it was started with and how far it
// got. convlab-train reads it before writing anything, so that a folder never holds two runs:
// another run there is refused, this very run finished is reported complete, and --resume
// goes on only with the settings the run was started with.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "framework/io/config.h"
#include "framework/io/metrics_log.h"
#include "framework/train/run_folder.h"

namespace convlab {

struct RecordedRun {
  TrainConfig config;                    // as the run recorded it
  std::filesystem::path config_source;   // resume.safetensors, or config.yaml before epoch 1 ended
  int64_t epochs_done = 0;               // the last finished epoch; 0: none
  std::optional<int64_t> eval_examples;  // test images per evaluation, where recorded
  std::optional<EpochMetrics> last_row;  // the metrics of epochs_done, where recorded
};

// Whether the folder holds a run, or part of one: config.yaml, metrics, a resume file or
// a checkpoint.
bool holds_run(const RunFolder& run);

// The run the folder holds (holds_run must be true): from resume.safetensors when an epoch
// has finished, else from config.yaml. An Error naming the file, and --force, when neither
// can be read.
RecordedRun read_recorded_run(const RunFolder& run);

// Whether --resume may change `key` ("train_config.num_epochs"): the number of epochs (to
// extend a run or end it sooner) and the log_config keys, which shape outputs only. Every
// other key shapes training or its metrics, as does the number of test images per evaluation.
bool may_change_on_resume(const std::string& key);

// "train_config.seed_id: 0 in the run, 1 now", one per setting that differs between the
// run's record and `now` (with `eval_examples_now` when given and recorded); keys that
// may_change_on_resume are left out, but for the number of epochs when `with_epochs` (is
// `now` the very run in the folder?).
std::vector<std::string> setting_differences(const RecordedRun& run, const TrainConfig& now,
                                             std::optional<int64_t> eval_examples_now, bool with_epochs);

}  // namespace convlab
