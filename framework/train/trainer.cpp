#include "framework/train/trainer.h"

#include <fmt/core.h>

#include <chrono>
#include <fstream>
#include <limits>
#include <memory>

#include "framework/backend/cuda_device.h"
#include "framework/core/version.h"
#include "framework/data/cifar10.h"
#include "framework/data/cifar10_fetch.h"
#include "framework/data/shuffle.h"
#include "framework/io/metrics_log.h"
#include "framework/optim/schedule.h"
#include "framework/optim/sgd.h"
#include "framework/plot/learning_curve.h"
#include "framework/train/batches.h"
#include "framework/train/checkpoint.h"
#include "framework/train/evaluate.h"
#include "framework/train/progress.h"
#include "framework/train/train_step.h"

namespace convlab {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

// Fails before any training if the run folder cannot be written.
void prepare_run_dir(const fs::path& dir) {
  std::error_code error;
  fs::create_directories(dir / "checkpoints", error);
  const fs::path probe = dir / ".write-test";
  std::ofstream out(probe);
  out << "ok";
  out.close();
  if (error || !out) {
    CONVLAB_FAIL("cannot write to the output folder {}{}: choose another with --output", dir.string(),
                 error ? " (" + error.message() + ")" : "");
  }
  fs::remove(probe, error);
}

// config.yaml's first lines: YAML comments, so the file still reads back as the run's config.
std::string run_record_comment(const std::string& device_choice) {
  return fmt::format("# convlab {}\n# device: {}\n", version(), device_choice);
}

fs::path checkpoint_path(const fs::path& run_dir, int64_t epoch) {
  return run_dir / "checkpoints" / fmt::format("epoch_{:04d}.safetensors", epoch);
}

}  // namespace

TrainSummary train(const TrainOptions& options) {
  const TrainConfig& config = options.config;
  const TrainSection& tc = config.train;
  validate_config(config, options.config_source);
  const auto run_start = Clock::now();
  TrainSummary summary;
  summary.run_dir = config.log.experiment_dir;
  prepare_run_dir(summary.run_dir);
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
  const PrecisionPlan precision = precision_plan(tc.precision, tc.memory_format, device);
  const fs::path source = options.fetch_missing_data ? find_or_fetch_cifar10(options.data) : find_cifar10(options.data);
  const Cifar10 cifar = load_cifar10(source, options.cache_dir.empty() ? default_cache_dir() : options.cache_dir);
  const uint64_t seed = static_cast<uint64_t>(tc.seed_id);
  CONVLAB_CHECK(tc.train_data_size <= cifar.train.size(), "{}: train_data_size {} exceeds the {} training images",
                options.config_source, tc.train_data_size, cifar.train.size());
  const DeviceImageSet train_set = upload(cifar.train, device, choose_examples(cifar.train.size(), tc.train_data_size, seed));
  const int64_t eval_count = options.eval_examples > 0 ? std::min(options.eval_examples, cifar.test.size()) : cifar.test.size();
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

  // Start or resume.
  int64_t epoch = 0, updates = 0;
  const fs::path resume_file = summary.run_dir / "resume.safetensors";
  if (options.resume) {
    CONVLAB_CHECK(fs::exists(resume_file), "--resume: no {} (the run has not finished an epoch yet); start without --resume",
                  resume_file.string());
    const auto meta = load_checkpoint(resume_file, *model, &sgd);
    epoch = std::stoll(meta.at("epoch"));
    updates = std::stoll(meta.at("updates"));
    say(fmt::format("resuming after epoch {} ({} updates) from {}", epoch, updates, resume_file.string()));
  }
  MetricsLog metrics(summary.run_dir, options.resume);
  if (options.resume) metrics.truncate_after(epoch);
  {
    std::ofstream out(summary.run_dir / "config.yaml");
    out << run_record_comment(handle.choice()) << to_yaml(config);
  }
  auto metadata = [&](int64_t at_epoch) {
    return checkpoint_metadata(*model, config, cifar.class_names, handle.choice(), at_epoch, updates);
  };
  const LearningCurveInfo curve{fmt::format("{} ({})", model->description(), summary.run_dir.filename().string()),
                                test_set.size(), tc.use_augment};
  // The plot is derived from metrics.csv, which has every row: a plot that cannot be drawn
  // (no font on the machine, say) is a warning, never the end of a run.
  bool plot_warned = false;
  auto plot = [&] {
    try {
      summary.learning_curve =
          save_learning_curve(metrics.rows(), summary.run_dir / "learning_curve", curve, options.figure_formats);
    } catch (const std::exception& e) {
      if (!plot_warned)
        fmt::print(stderr, "convlab-train: warning: the learning curve was not drawn ({}); metrics.csv holds every "
                   "row, and training goes on\n", e.what());
      plot_warned = true;
    }
  };
  if (!options.resume) {
    save_checkpoint(checkpoint_path(summary.run_dir, 0), *model, nullptr, metadata(0));
    // Epoch 0: the network at init, evaluated like every epoch; no batch has been trained on,
    // so the train columns are NaN. Evaluation draws no random numbers and leaves the weights
    // and running statistics alone, so a resumed run, which skips this, stays exact.
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
    const int64_t bad_step = step.first_bad_step();
    if (bad_step >= 0) {
      CONVLAB_FAIL("the loss became NaN or infinite at update {} (epoch {}); stopped without saving this epoch. "
                   "The last good state is {} (epoch {}). Try a lower lrate or max_norm.",
                   bad_step, epoch, options.resume || epoch > 1 ? resume_file.string() : checkpoint_path(summary.run_dir, 0).string(),
                   epoch - 1);
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
    save_checkpoint(resume_file, *model, &sgd, metadata(epoch));
    if (epoch % config.log.save_every_k_ckpt == 0 || epoch == tc.num_epochs)
      save_checkpoint(checkpoint_path(summary.run_dir, epoch), *model, nullptr, metadata(epoch));
    plot();
    say(fmt::format("epoch {:4d}/{}  updates {:7d}  lr {:.4g}  train loss {:.4f} acc {:5.2f}%  test loss {:.4f} acc "
                    "{:5.2f}%  {:.1f}s  {:.0f} img/s",
                    epoch, tc.num_epochs, updates, last_lr, row.train_loss, 100 * row.train_acc, row.test_loss,
                    100 * row.test_acc, row.seconds, row.images_per_second));
    summary.final_train_acc = row.train_acc;
    summary.final_test_acc = row.test_acc;
    summary.final_test_loss = row.test_loss;
  }
  if (summary.learning_curve.empty() && !metrics.rows().empty()) plot();  // a resumed run that had nothing left
  summary.epochs_done = epoch;
  summary.updates = updates;
  summary.seconds = std::chrono::duration<double>(Clock::now() - run_start).count();
  return summary;
}

}  // namespace convlab
