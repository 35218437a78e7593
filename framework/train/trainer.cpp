#include "framework/train/trainer.h"

#include <fmt/core.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>

#include "framework/backend/cuda_device.h"
#include "framework/core/pause_point.h"
#include "framework/core/version.h"
#include "framework/data/cifar10.h"
#include "framework/data/cifar10_fetch.h"
#include "framework/data/shuffle.h"
#include "framework/io/atomic_file.h"
#include "framework/io/metrics_log.h"
#include "framework/io/output_folder.h"
#include "framework/optim/schedule.h"
#include "framework/optim/sgd.h"
#include "framework/plot/learning_curve.h"
#include "framework/train/batches.h"
#include "framework/train/checkpoint.h"
#include "framework/train/evaluate.h"
#include "framework/train/progress.h"
#include "framework/train/run_folder.h"
#include "framework/train/run_record.h"
#include "framework/train/train_step.h"

namespace convlab {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

// The metadata key under which resume.safetensors carries the metrics row of its epoch.
constexpr const char* kMetricsKey = "metrics";

// config.yaml's first lines: YAML comments, so the file still reads back as the run's config.
// They record what the config does not hold: convlab's version, the device and the number of
// test images per evaluation (--eval-examples), which reports of the run show beside its accuracy.
std::string run_record_comment(const std::string& device_choice, int64_t test_examples) {
  return fmt::format("# convlab {}\n# device: {}\n# test images per evaluation: {}\n", version(), device_choice,
                     test_examples);
}

bool checkpoint_due(const TrainConfig& config, int64_t epoch) {
  return epoch % config.log.save_every_k_ckpt == 0 || epoch == config.train.num_epochs;
}

std::string read_text_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  CONVLAB_CHECK(in.good(), "cannot open {}", path.string());
  std::ostringstream text;
  text << in.rdbuf();
  CONVLAB_CHECK(!in.bad(), "cannot read {}", path.string());
  return text.str();
}

// Makes a CUDA device take the convolution algorithms recorded in `file` instead of timing
// them, so that this process computes bit for bit what the recording one did (timing may
// prefer another algorithm in another process). Says so in the log, quiet or not: a log must
// tell whether its run can repeat bit for bit. `advice` says what to do when the file does not
// parse. Returns the file's text.
std::string pin_recorded_conv_algorithms(const fs::path& file, Device device, std::FILE* log,
                                         const std::string& advice) {
  const std::string record = read_text_file(file);
  try {
    pin_conv_algorithms(device, record, file.string());
  } catch (const Error& e) {
    CONVLAB_FAIL("{} is not a record of convolution algorithms: {}. {}", file.string(), e.what(), advice);
  }
  fmt::print(log, "convolution algorithms pinned as recorded in {}\n", file.string());
  return record;
}

}  // namespace

TrainSummary train(const TrainOptions& options) {
  const TrainConfig& config = options.config;
  const TrainSection& tc = config.train;
  validate_config(config, options.config_source);
  const auto run_start = Clock::now();
  CONVLAB_CHECK(!(options.resume && options.force),
                "--resume continues the run in the output folder and --force starts it over: give one");
  TrainSummary summary;
  summary.run_dir = expand_home(config.log.experiment_dir);
  const RunFolder run{summary.run_dir};
  // The folder is this process's alone until it returns: a second convlab-train on it is
  // refused at once, naming this one.
  FolderLock lock = FolderLock::acquire(run.dir, FolderKind::training_run, "convlab-train",
                                        "--output (log_config.experiment_dir)");
  if (lock.taken_over())
    fmt::print(options.log, "{}: took over the folder from {}, which is gone\n", run.dir.string(), *lock.taken_over());
  // What the folder holds already decides between a fresh start, a resume, a refusal and
  // "complete": one folder never holds two runs.
  std::optional<RecordedRun> recorded;
  if (holds_run(run)) {
    if (options.force) {
      const fs::path aside = lock.move_contents_aside();
      fmt::print(options.log, "--force: moved the run that was in {} to {}; delete it when you no longer need it\n",
                 run.dir.string(), aside.string());
    } else {
      recorded = read_recorded_run(run);
    }
  }
  bool resume = options.resume;
  bool complete = false;  // this very run, finished: nothing to train
  if (resume) {
    CONVLAB_CHECK(recorded.has_value(), "--resume: {} holds no run; start without --resume", run.dir.string());
    const std::vector<std::string> changed = setting_differences(*recorded, config, std::nullopt, false);
    if (!changed.empty())
      CONVLAB_FAIL("--resume: the run in {} was started with other settings, and a resumed run must train as the "
                   "uninterrupted one would:\n  {}\nResume with the run's own settings ({}); only --epochs, "
                   "--stop-after-epoch and output options may change (--force starts a new run instead)",
                   run.dir.string(), fmt::join(changed, "\n  "), recorded->config_source.string());
    if (recorded->epochs_done == 0) {
      // Killed during the first epoch: nothing to resume, so the run starts again.
      fmt::print(options.log, "--resume: {} has no finished epoch yet; starting from epoch 1\n", run.dir.string());
      resume = false;
    }
  } else if (recorded) {
    const std::vector<std::string> changed = setting_differences(*recorded, config, std::nullopt, true);
    if (setting_differences(*recorded, config, std::nullopt, false).empty() &&
        recorded->config.train.num_epochs != tc.num_epochs)
      CONVLAB_FAIL("{} holds this run with num_epochs {} (epoch {} finished): add --resume to train it to epoch {}, or "
                   "--force to start it over (the old run is moved aside)",
                   run.dir.string(), recorded->config.train.num_epochs, recorded->epochs_done, tc.num_epochs);
    if (!changed.empty())
      CONVLAB_FAIL("{} holds another run, started with other settings:\n  {}\nChoose another --output, add --resume "
                   "to continue that run with its own settings ({}), or --force to start this one there (the old "
                   "run is moved aside)",
                   run.dir.string(), fmt::join(changed, "\n  "), recorded->config_source.string());
    CONVLAB_CHECK(recorded->epochs_done == tc.num_epochs,
                  "{} holds this run, unfinished (epoch {} of {}): add --resume to continue it, or --force to start it "
                  "over (the old run is moved aside)",
                  run.dir.string(), recorded->epochs_done, tc.num_epochs);
    complete = true;  // once the test images per evaluation are known to be the same too
  }
  run.prepare();
  auto say = [&](const std::string& line) {
    if (!options.quiet) fmt::print(options.log, "{}\n", line);
  };

  // Device and data. The device line comes first, even when quiet: logs must say where a run ran.
  CudaOptions cuda_options;
  cuda_options.deterministic = tc.deterministic;
  cuda_options.sync_each_op = options.sync_each_op;
  cuda_options.allow_tf32 = tc.precision != Precision::fp32;
  const DeviceHandle handle(options.device, cuda_options);
  const Device device = handle.device();
  fmt::print(options.log, "convlab {}: device {}\n", version(), handle.choice());
  std::fflush(options.log);  // the device line, then any warnings, in this order in a shared log
  for (const std::string& warning : config_warnings(config))
    fmt::print(stderr, "convlab: warning: {}: {}\n", options.config_source, warning);
  const PrecisionPlan precision = precision_plan(tc.precision, tc.memory_format, device);
  const fs::path source = options.fetch_missing_data ? find_or_fetch_cifar10(options.data) : find_cifar10(options.data);
  const Cifar10 cifar = load_cifar10(source, options.cache_dir.empty() ? default_cache_dir() : options.cache_dir);
  check_class_count(cifar, config.model.num_classes);
  const uint64_t seed = static_cast<uint64_t>(tc.seed_id);
  CONVLAB_CHECK(tc.train_data_size <= cifar.train.size(), "{}: train_data_size {} exceeds the {} training images",
                options.config_source, tc.train_data_size, cifar.train.size());
  const DeviceImageSet train_set = upload(cifar.train, device, choose_examples(cifar.train.size(), tc.train_data_size, seed));
  const int64_t eval_count = options.eval_examples > 0 ? std::min(options.eval_examples, cifar.test.size()) : cifar.test.size();
  if (options.eval_examples > cifar.test.size())
    fmt::print(stderr, "convlab-train: warning: --eval-examples {} asks for more test images than the {} there are; "
               "evaluating on all {}\n", options.eval_examples, cifar.test.size(), cifar.test.size());
  if (recorded) {
    const std::vector<std::string> changed = setting_differences(*recorded, config, eval_count, !resume);
    if (!changed.empty())
      CONVLAB_FAIL("{} holds a run started with other settings:\n  {}\n{}", run.dir.string(), fmt::join(changed, "\n  "),
                   resume ? "Resume with the run's own settings" : "Choose another --output, or --force to start over");
  }
  if (complete) {
    summary.already_complete = true;
    summary.epochs_done = recorded->epochs_done;
    summary.updates = recorded->last_row ? recorded->last_row->updates : 0;
    if (recorded->last_row) {
      summary.final_train_acc = recorded->last_row->train_acc;
      summary.final_test_acc = recorded->last_row->test_acc;
      summary.final_test_loss = recorded->last_row->test_loss;
    }
    for (const char* ext : {".png", ".pdf", ".svg"})
      if (fs::path file = run.learning_curve_stem().string() + ext; fs::exists(file)) summary.learning_curve.push_back(file);
    return summary;
  }
  const DeviceImageSet test_set = upload(cifar.test, device, choose_examples(cifar.test.size(), eval_count, 0));
  say(fmt::format("data: {} ({} training images used, {} test images per evaluation)", cifar.source_description,
                  train_set.size(), test_set.size()));

  // Model, optimiser, schedule.
  CONVLAB_CHECK(options.make_model != nullptr, "TrainOptions.make_model is not set");
  std::unique_ptr<nn::Model> model = options.make_model(config.model, seed);
  model->to(device);
  const bool decoupled = tc.weight_decay_mode == WeightDecayMode::decoupled;
  SgdConfig sgd_config{tc.momentum, tc.nesterov, tc.max_norm, decoupled ? tc.w_decay : 0.0};
  sgd_config.l2 = decoupled ? 0.0 : tc.w_decay;  // the reference's penalty, inside the optimiser
  optim::Sgd sgd(model->parameters(), sgd_config);
  const int64_t batch_size = tc.batch_size;
  const int64_t steps_per_epoch = optim::steps_per_epoch(train_set.size(), batch_size);
  const optim::MultistepSchedule schedule{tc.lrate, tc.lrate_decay,
                                          std::vector<int64_t>(tc.decay_after_epochs.begin(), tc.decay_after_epochs.end()),
                                          steps_per_epoch};
  const kernels::AugmentConfig augment =
      kernels::cifar10_augment_config(tc.use_augment, tc.use_augment, tc.use_augment && tc.use_cutout);
  say(fmt::format("model: {}, {} parameters, on {}, {}", model->description(), model->parameter_count(),
                  device.name(), describe(precision)));

  int64_t epoch = 0, updates = 0;
  auto metadata = [&](int64_t at_epoch, int64_t at_updates) {
    return checkpoint_metadata(*model, config, cifar.class_names, handle.choice(), at_epoch, at_updates);
  };
  // Start, or resume after the last finished epoch. The epoch's checkpoint is written before
  // resume.safetensors, so a run killed between any two writes loses nothing; what the last
  // finished epoch should have left but a kill cut short is written again here.
  std::optional<EpochMetrics> resumed_row;
  std::string conv_record;  // conv_algorithms.txt as this process last read or wrote it
  if (resume) {
    const fs::path file = run.resume_file();
    const auto meta = load_checkpoint(file, *model, &sgd);
    epoch = metadata_int(meta, "epoch", file, 1, static_cast<int64_t>(config_key_range("train_config.num_epochs").max));
    CONVLAB_CHECK(epoch <= tc.num_epochs, "--resume: the run in {} has finished epoch {}, beyond num_epochs {}",
                  run.dir.string(), epoch, tc.num_epochs);
    updates = metadata_int(meta, "updates", file, 0, int64_t{1} << 62);
    CONVLAB_CHECK(updates == epoch * steps_per_epoch,
                  "{}: {} updates after epoch {}, but this config has {} updates per epoch (train_data_size or "
                  "batch_size changed?): resume with the run's own config ({})",
                  file.string(), updates, epoch, steps_per_epoch, run.config_file().string());
    if (meta.count(kMetricsKey)) resumed_row = MetricsLog::parse_row_text(meta.at(kMetricsKey), file.string());
    say(fmt::format("resuming after epoch {} ({} updates) from {}", epoch, updates, file.string()));
  }
  // The convolution algorithms to take instead of timing, before any convolution runs. The
  // CPU has none: its results never depend on timing.
  if (device.is_cuda() && !options.conv_algorithms.empty()) {
    CONVLAB_CHECK(fs::exists(options.conv_algorithms), "{}: no such file of convolution algorithms to pin",
                  options.conv_algorithms.string());
    pin_recorded_conv_algorithms(options.conv_algorithms, device, options.log,
                                 "Pin another record, or none to time the algorithms afresh");
  } else if (device.is_cuda() && resume) {
    const fs::path file = run.conv_algorithms_file();
    if (fs::exists(file)) {
      conv_record = pin_recorded_conv_algorithms(
          file, device, options.log,
          "Delete it to time the algorithms afresh (the resumed run may then differ from an uninterrupted one in "
          "the last bits)");
    } else {
      fmt::print(options.log, "--resume: no {} in {}; convolution algorithms are timed afresh, so this run may "
                 "differ from an uninterrupted one in the last bits\n", file.filename().string(), run.dir.string());
    }
  }
  MetricsLog metrics(summary.run_dir, resume);
  const LearningCurveInfo curve{fmt::format("{} ({})", model->description(), summary.run_dir.filename().string()),
                                test_set.size(), tc.use_augment};
  // The plot is derived from metrics.csv, which has every row: a plot that cannot be drawn
  // (no font on the machine, say) is a warning, never the end of a run.
  bool plot_warned = false;
  auto plot = [&] {
    try {
      summary.learning_curve =
          save_learning_curve(metrics.rows(), run.learning_curve_stem(), curve, options.figure_formats);
    } catch (const std::exception& e) {
      if (!plot_warned)
        fmt::print(stderr, "convlab-train: warning: the learning curve was not drawn ({}); metrics.csv holds every "
                   "row, and training goes on\n", e.what());
      plot_warned = true;
    }
  };

  if (resume) {
    metrics.truncate_after(epoch);
    std::vector<EpochMetrics> rows = metrics.rows();
    if ((rows.empty() || rows.back().epoch < epoch) && resumed_row && resumed_row->epoch == epoch) {
      metrics.append(*resumed_row);
      rows.push_back(*resumed_row);
    }
    if (static_cast<int64_t>(rows.size()) != epoch + 1)  // epochs 0 (at init) .. epoch
      fmt::print(stderr, "convlab: warning: {} holds {} rows for epochs 0 to {}; the missing ones cannot be "
                 "recreated\n", metrics.csv_path().string(), rows.size(), epoch);
    if (!fs::exists(run.checkpoint(0))) {  // the initial weights are a function of the seed alone
      std::unique_ptr<nn::Model> initial = options.make_model(config.model, seed);
      save_checkpoint(run.checkpoint(0), *initial, nullptr,
                      checkpoint_metadata(*initial, config, cifar.class_names, handle.choice(), 0, 0));
    }
    if (checkpoint_due(config, epoch) && !fs::exists(run.checkpoint(epoch)))
      save_checkpoint(run.checkpoint(epoch), *model, nullptr, metadata(epoch, updates));
    if (!rows.empty()) {
      plot();  // the plot is drawn last in an epoch, so a kill can leave it one epoch behind
      summary.final_train_acc = rows.back().train_acc;
      summary.final_test_acc = rows.back().test_acc;
      summary.final_test_loss = rows.back().test_loss;
    }
  }
  write_file_atomically(run.config_file(),
                        [&](std::ostream& out) { out << run_record_comment(handle.choice(), test_set.size()) << to_yaml(config); });
  if (!resume) {
    save_checkpoint(run.checkpoint(0), *model, nullptr, metadata(0, 0));
    // Epoch 0: the network at init, evaluated like every epoch; no batch has been trained on,
    // so the train columns are NaN. Evaluation draws no random numbers and leaves the weights
    // and running statistics alone, so a resumed run, which skips this, stays exact. A run
    // killed before epoch 1 ends has no resume file and starts again from here.
    const auto eval_start = Clock::now();
    const EvalResult test = evaluate(*model, test_set, options.eval_batch, augment, precision.batch);
    EpochMetrics row;
    row.lr = schedule.lr(0);
    row.train_loss = row.train_acc = row.images_per_second = std::numeric_limits<double>::quiet_NaN();
    row.test_loss = test.loss;
    row.test_acc = test.accuracy;
    row.seconds = std::chrono::duration<double>(Clock::now() - eval_start).count();
    metrics.append(row);
    plot();
    say(fmt::format("epoch {:4d}/{}  at init: test loss {:.4f} acc {:5.2f}%  {:.1f}s", 0, tc.num_epochs, row.test_loss,
                    100 * row.test_acc, row.seconds));
    summary.final_test_acc = row.test_acc;
    summary.final_test_loss = row.test_loss;
  }

  StepOptions step_options;
  step_options.seed = seed;
  step_options.batch_size = batch_size;
  step_options.use_graph = options.cuda_graph && device.is_cuda();
  step_options.input = precision.batch;
  TrainStep step(*model, sgd, step_options, device, updates);

  while (epoch < tc.num_epochs && epoch != options.stop_after_epoch) {
    ++epoch;
    const auto epoch_start = Clock::now();
    model->train();
    step.reset_sums();
    const Tensor order = device_order(epoch_order(train_set.size(), seed, static_cast<uint32_t>(epoch)), device);
    ProgressBar bar(options.log, !options.quiet, epoch, tc.num_epochs, steps_per_epoch, batch_size);
    int64_t seen = 0;
    double last_lr = -1;
    for (int64_t s = 0; s < steps_per_epoch; ++s) {
      if (options.stop_requested && options.stop_requested()) {
        summary.stopped = true;
        break;
      }
      const int64_t first = s * batch_size;
      const int64_t count = std::min(batch_size, train_set.size() - first);
      const double rate = schedule.lr(updates);
      if (rate != last_lr) step.set_lr(rate);  // the milestones fall on epoch boundaries
      last_lr = rate;
      step.run(assemble_batch(train_set, order, first, count, augment, tc.use_augment, seed,
                              static_cast<uint32_t>(epoch), precision.batch));
      ++updates;
      seen += count;
      if (bar.due()) bar.update(s + 1, step.mean_loss(seen), step.accuracy(seen));
    }
    bar.finish();
    if (summary.stopped) {  // the epoch is dropped, as a kill would drop it
      fmt::print(options.log, "stopped during epoch {}: {} holds the epochs before it; --resume continues from there\n",
                 epoch, run.dir.string());
      --epoch;
      updates = epoch * steps_per_epoch;
      break;
    }
    const int64_t bad_step = step.first_bad_step();
    if (bad_step >= 0) {
      CONVLAB_FAIL("the loss became NaN or infinite at update {} (epoch {}); stopped without saving this epoch. "
                   "The last good state is {} (epoch {}). Try a lower lrate or max_norm.",
                   bad_step, epoch, epoch > 1 ? run.resume_file().string() : run.checkpoint(0).string(), epoch - 1);
    }
    const double train_seconds = std::chrono::duration<double>(Clock::now() - epoch_start).count();
    const EvalResult test = evaluate(*model, test_set, options.eval_batch, augment, precision.batch);
    EpochMetrics row;
    row.epoch = epoch;
    row.updates = updates;
    row.lr = last_lr;
    row.train_loss = step.mean_loss(seen);
    row.train_acc = step.accuracy(seen);
    row.test_loss = test.loss;
    row.test_acc = test.accuracy;
    row.seconds = std::chrono::duration<double>(Clock::now() - epoch_start).count();
    row.images_per_second = seen / train_seconds;
    metrics.append(row);
    pause_point("metrics-row-written");
    if (checkpoint_due(config, epoch)) {
      save_checkpoint(run.checkpoint(epoch), *model, nullptr, metadata(epoch, updates));
      pause_point("epoch-checkpoint-written");
    }
    // The convolution algorithms this run chose, before resume.safetensors: a resume file is
    // never without the record of the algorithms that computed it. New shapes appear during
    // the first epoch (the partial last batch, evaluation batches), so the record is written
    // at each epoch end when it changed, and holds every shape of the run once epoch 1 ends.
    if (device.is_cuda()) {
      std::string record = conv_algorithm_record(device);
      if (!record.empty() && record != conv_record) {
        write_file_atomically(run.conv_algorithms_file(), [&](std::ostream& out) { out << record; });
        conv_record = std::move(record);
      }
    }
    auto resume_metadata = metadata(epoch, updates);
    resume_metadata[kMetricsKey] = MetricsLog::row_text(row);
    resume_metadata["eval_examples"] = std::to_string(test_set.size());  // checked on --resume
    save_checkpoint(run.resume_file(), *model, &sgd, resume_metadata);
    pause_point("resume-written");
    plot();
    say(fmt::format("epoch {:4d}/{}  updates {:7d}  lr {:.4g}  train loss {:.4f} acc {:5.2f}%  test loss {:.4f} acc "
                    "{:5.2f}%  {:.1f}s  {:.0f} img/s",
                    epoch, tc.num_epochs, updates, last_lr, row.train_loss, 100 * row.train_acc, row.test_loss,
                    100 * row.test_acc, row.seconds, row.images_per_second));
    summary.final_train_acc = row.train_acc;
    summary.final_test_acc = row.test_acc;
    summary.final_test_loss = row.test_loss;
    if (options.on_epoch) options.on_epoch(row);
  }
  summary.epochs_done = epoch;
  summary.updates = updates;
  summary.seconds = std::chrono::duration<double>(Clock::now() - run_start).count();
  return summary;
}

}  // namespace convlab
