// Training from Python: convlab-train's work in this process (apps/train_main.cpp), with the
// config's overrides as arguments, a progress callback per epoch and Ctrl-C ending the run as
// a kill would, resumable.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <unistd.h>

#include "bindings.h"
#include "framework/data/cifar10.h"
#include "framework/io/cli_numbers.h"
#include "framework/io/config.h"
#include "framework/io/metrics_log.h"
#include "framework/io/output_folder.h"
#include "framework/train/trainer.h"
#include "models/registry.h"

namespace convlab::python {

namespace {

// An override of an integer key, checked against the key's range as convlab-train checks its
// flag ("epochs must be in 1..1000000, got 0").
int key_value(const char* name, int64_t value, const std::string& key) {
  const KeyRange& range = config_key_range(key);
  return static_cast<int>(parse_int_flag(name, std::to_string(value), static_cast<int64_t>(range.min),
                                         static_cast<int64_t>(range.max)));
}

// A metrics row under metrics.csv's column names.
nb::dict metrics_row(const EpochMetrics& m) {
  nb::dict row;
  visit_metrics(m, [&](const char* column, auto value) { row[column] = value; });
  return row;
}

// The trainer's log: this process's standard output, line-buffered, so that each line shows
// as it is written even where stdout is a pipe (a notebook, a captured test).
struct LogFile {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file{nullptr, &std::fclose};
  LogFile() {
    std::fflush(stdout);
    const int fd = dup(STDOUT_FILENO);
    if (fd >= 0) file.reset(fdopen(fd, "w"));
    if (file) std::setvbuf(file.get(), nullptr, _IOLBF, BUFSIZ);
  }
  std::FILE* get() const { return file ? file.get() : stdout; }
};

nb::dict train_run(const std::optional<std::string>& config, const std::optional<std::string>& data,
                   std::optional<int64_t> epochs, std::optional<int64_t> train_size, std::optional<int64_t> batch_size,
                   std::optional<int64_t> seed, const std::optional<std::string>& output,
                   std::optional<int64_t> eval_examples, const std::string& device, bool resume, bool force,
                   const std::optional<std::string>& cache_dir, bool download, std::optional<int64_t> stop_after_epoch,
                   const std::optional<std::string>& precision, bool quiet, nb::object progress) {
  TrainOptions options;
  options.make_model = models::make_model;
  // Everything about the arguments is checked before training: their errors are InputError.
  input_errors([&] {
    if (config) {
      options.config = load_config(*config);
      options.config_source = *config;
    }
    TrainConfig& c = options.config;
    if (epochs) c.train.num_epochs = key_value("epochs", *epochs, "train_config.num_epochs");
    if (train_size) c.train.train_data_size = key_value("train_size", *train_size, "train_config.train_data_size");
    if (batch_size) c.train.batch_size = key_value("batch_size", *batch_size, "train_config.batch_size");
    if (seed) c.train.seed_id = key_value("seed", *seed, "train_config.seed_id");
    if (output) c.log.experiment_dir = *output;
    c.log.experiment_dir = expand_home(c.log.experiment_dir).string();
    if (precision) c.train.precision = parse_precision(*precision);
    validate_config(c, options.config_source + " with the keyword arguments");
    if (eval_examples)
      options.eval_examples = parse_int_flag("eval_examples", std::to_string(*eval_examples), 1, 10'000'000);
    if (stop_after_epoch)
      options.stop_after_epoch = key_value("stop_after_epoch", *stop_after_epoch, "train_config.num_epochs");
    if (data) {
      options.data = *data;
      find_cifar10(options.data);  // a source that is not there is named now, before anything is written
    }
  });
  if (resume && force)
    throw InputError("resume=True continues the run in the output folder and force=True starts it over: give one");
  if (device != "auto" && device != "cpu" && device != "cuda")
    throw InputError("unknown device '" + message_excerpt(device) + "': use 'auto', 'cpu' or 'cuda'");
  options.device = device;
  options.resume = resume;
  options.force = force;
  if (cache_dir) options.cache_dir = *cache_dir;
  options.fetch_missing_data = download;
  options.quiet = quiet;

  // Ctrl-C is looked for every 0.1 s of training, not at every step: taking the GIL is
  // quick, but may wait for another Python thread's turn.
  using Clock = std::chrono::steady_clock;
  std::optional<nb::python_error> interrupt;
  Clock::time_point last_check = Clock::now();
  options.stop_requested = [&] {
    if (Clock::now() - last_check < std::chrono::milliseconds(100)) return false;
    last_check = Clock::now();
    try {
      check_interrupt();
    } catch (nb::python_error& e) {
      interrupt.emplace(std::move(e));
    }
    return interrupt.has_value();
  };
  if (!progress.is_none())
    options.on_epoch = [&](const EpochMetrics& row) {
      nb::gil_scoped_acquire gil;
      progress(metrics_row(row));
    };

  TrainSummary summary;
  {
    LogFile log;
    options.log = log.get();
    nb::gil_scoped_release release;
    summary = train(options);
  }
  if (interrupt) throw *interrupt;

  nb::dict result;
  result["run_dir"] = summary.run_dir.string();
  result["already_complete"] = summary.already_complete;
  result["epochs_done"] = summary.epochs_done;
  result["updates"] = summary.updates;
  result["final_train_acc"] = summary.final_train_acc;
  result["final_test_acc"] = summary.final_test_acc;
  result["final_test_loss"] = summary.final_test_loss;
  result["seconds"] = summary.seconds;
  nb::list curve;
  for (const auto& file : summary.learning_curve) curve.append(file.string());
  result["learning_curve"] = curve;
  nb::list rows;
  for (const EpochMetrics& row : MetricsLog::read_csv(summary.run_dir / MetricsLog::kCsvName))
    rows.append(metrics_row(row));
  result["metrics"] = rows;
  return result;
}

}  // namespace

void bind_training(nb::module_& m) {
  m.def("train", &train_run, nb::arg("config").none(), nb::arg("data").none(), nb::arg("epochs").none(),
        nb::arg("train_size").none(), nb::arg("batch_size").none(), nb::arg("seed").none(), nb::arg("output").none(),
        nb::arg("eval_examples").none(), nb::arg("device"), nb::arg("resume"), nb::arg("force"),
        nb::arg("cache_dir").none(), nb::arg("download"), nb::arg("stop_after_epoch").none(),
        nb::arg("precision").none(), nb::arg("quiet"), nb::arg("progress").none(),
        "Trains as convlab-train does, in this process; returns a dict of the run's summary and metrics rows. "
        "Internal: use convlab.train.");
}

}  // namespace convlab::python
