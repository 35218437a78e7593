// The training loop end to end on a tiny generated image folder: outputs, exact resume,
// NaN handling and bad output folders.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>

#include "framework/backend/cuda_device.h"
#include "framework/core/error.h"
#include "framework/io/metrics_log.h"
#include "framework/io/orphans.h"
#include "framework/io/output_folder.h"
#include "framework/io/safetensors.h"
#include "framework/train/trainer.h"
#include "models/registry.h"
#include "tests/support/error_of.h"
#include "tests/support/figure_files.h"
#include "tests/support/run_comparison.h"
#include "tests/support/tiny_image_folder.h"

namespace fs = std::filesystem;
using namespace convlab;
using test_support::error_of;

namespace {

class TrainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("convlab-trainer-{}-{}", ::getpid(),
                                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    test_support::write_tiny_image_folder(dir_ / "data", 4, 2);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  TrainOptions options(const std::string& run, int epochs) {
    TrainOptions o;
    o.make_model = models::make_model;
    o.data = dir_ / "data";
    o.cache_dir = dir_ / "cache";
    o.quiet = true;
    o.device = "cpu";  // bit-exact comparisons between runs: the CPU (CudaTrainerTest below: the GPU)
    TrainSection& t = o.config.train;
    t.num_epochs = epochs;
    t.train_data_size = 40;
    t.batch_size = 16;  // 3 steps per epoch, the last one partial
    t.decay_after_epochs = {2};
    o.config.log.experiment_dir = (dir_ / run).string();
    o.config.log.save_every_k_ckpt = 2;
    o.config.model.dropout_input = 0.1;  // exercise the dropout streams in resume
    o.config.model.dropout_hidden = 0.2;
    return o;
  }
  // Smaller still: one update of 8 images per epoch, 4 test images.
  TrainOptions quick(const std::string& run, int epochs) {
    TrainOptions o = options(run, epochs);
    o.config.train.train_data_size = 8;
    o.config.train.batch_size = 8;
    o.config.train.decay_after_epochs = {};
    o.eval_examples = 4;
    return o;
  }
  // Three epochs of `make(folder)`'s run twice: in "straight" at once, and in "interrupted"
  // stopped after epoch 1, then resumed.
  void train_straight_and_resumed(const std::function<TrainOptions(const std::string&)>& make) {
    train(make("straight"));
    TrainOptions first = make("interrupted");
    first.stop_after_epoch = 1;
    EXPECT_EQ(train(first).epochs_done, 1);
    TrainOptions second = make("interrupted");
    second.resume = true;
    EXPECT_EQ(train(second).epochs_done, 3);
  }
  // Trains `o` in bf16 with NHWC activations; returns its last checkpoint, which must hold the
  // fp32 master weights in OIHW.
  SafetensorsFile train_bf16_nhwc(TrainOptions o) {
    o.config.train.precision = Precision::bf16;
    o.config.train.memory_format = ActivationLayout::nhwc;
    const int64_t epochs = o.config.train.num_epochs;
    EXPECT_EQ(train(o).epochs_done, epochs);
    const fs::path run = o.config.log.experiment_dir;
    const auto rows = MetricsLog::read_csv(run / "metrics.csv");
    EXPECT_EQ(static_cast<int64_t>(rows.size()), epochs + 1);
    for (size_t i = 1; i < rows.size(); ++i) EXPECT_TRUE(std::isfinite(rows[i].train_loss)) << "epoch " << i;
    SafetensorsFile ckpt = read_safetensors(run / "checkpoints" / fmt::format("epoch_{:04d}.safetensors", epochs));
    EXPECT_EQ(ckpt.at("conv1.weight").dtype, "F32");
    EXPECT_EQ(ckpt.at("conv1.weight").shape, (std::vector<int64_t>{96, 3, 3, 3}));
    return ckpt;
  }
  fs::path dir_;
};

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Trains `o` with its log going to a temporary file; returns what was logged.
std::string train_logged(TrainOptions o, int64_t expected_epochs) {
  std::FILE* log = std::tmpfile();
  EXPECT_NE(log, nullptr);
  o.log = log;
  EXPECT_EQ(train(o).epochs_done, expected_epochs);
  std::string text;
  std::rewind(log);
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, log)) > 0;) text.append(buffer, n);
  std::fclose(log);
  return text;
}

// The final checkpoint and resume.safetensors of two runs hold the same bytes, and their
// metrics.csv the same rows but for the wall-clock columns.
void expect_same_run(const fs::path& a, const fs::path& b, int64_t epochs) {
  EXPECT_EQ(test_support::metrics_without_times(a / "metrics.csv"),
            test_support::metrics_without_times(b / "metrics.csv"));
  const std::string last = fmt::format("checkpoints/epoch_{:04d}.safetensors", epochs);
  for (const std::string& name : {last, std::string("resume.safetensors")}) {
    const SafetensorsFile x = read_safetensors(a / name), y = read_safetensors(b / name);
    ASSERT_EQ(x.arrays.size(), y.arrays.size()) << name;
    for (size_t i = 0; i < x.arrays.size(); ++i)
      EXPECT_EQ(x.arrays[i].bytes, y.arrays[i].bytes) << name << ": " << x.arrays[i].name;
  }
}


}  // namespace

TEST_F(TrainerTest, WritesMetricsCheckpointsAndPlot) {
  TrainOptions o = options("run", 3);
  o.figure_formats = {FigureFormat::png, FigureFormat::pdf, FigureFormat::svg};
  const TrainSummary summary = train(o);
  EXPECT_EQ(summary.epochs_done, 3);
  EXPECT_EQ(summary.updates, 9);
  const fs::path run = dir_ / "run";
  const auto rows = MetricsLog::read_csv(run / "metrics.csv");
  ASSERT_EQ(rows.size(), 4u);  // epoch 0 (at init), 1, 2, 3
  // Epoch 0: the network at init, evaluated but not trained.
  EXPECT_EQ(rows[0].epoch, 0);
  EXPECT_EQ(rows[0].updates, 0);
  EXPECT_NEAR(rows[0].lr, 0.1, 1e-12);
  EXPECT_TRUE(std::isnan(rows[0].train_loss));
  EXPECT_TRUE(std::isnan(rows[0].train_acc));
  EXPECT_TRUE(std::isnan(rows[0].images_per_second));
  EXPECT_TRUE(std::isfinite(rows[0].test_loss));
  EXPECT_EQ(rows[3].updates, 9);
  EXPECT_NEAR(rows[1].lr, 0.1, 1e-12);
  EXPECT_NEAR(rows[3].lr, 0.01, 1e-12);  // decayed after epoch 2
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].epoch, static_cast<int64_t>(i));
    if (i > 0) EXPECT_TRUE(std::isfinite(rows[i].train_loss));
    EXPECT_GE(rows[i].test_acc, 0.0);
    EXPECT_LE(rows[i].test_acc, 1.0);
  }
  // Checkpoints at init, every 2 epochs, and the last.
  for (const char* name : {"epoch_0000", "epoch_0002", "epoch_0003"})
    EXPECT_TRUE(fs::exists(run / "checkpoints" / (std::string(name) + ".safetensors"))) << name;
  EXPECT_FALSE(fs::exists(run / "checkpoints" / "epoch_0001.safetensors"));
  const SafetensorsFile ckpt = read_safetensors(run / "checkpoints" / "epoch_0003.safetensors");
  EXPECT_EQ(ckpt.at("conv1.weight").shape, (std::vector<int64_t>{96, 3, 3, 3}));
  EXPECT_TRUE(ckpt.contains("bn9.running_var"));
  EXPECT_FALSE(ckpt.contains("optimizer.momentum.conv1.weight"));
  EXPECT_EQ(ckpt.metadata.at("epoch"), "3");
  EXPECT_TRUE(read_safetensors(run / "resume.safetensors").contains("optimizer.momentum.conv1.weight"));
  // The learning curve in each format asked for, with epoch 0 and the learning-rate drop.
  EXPECT_EQ(summary.learning_curve, (std::vector<fs::path>{run / "learning_curve.png", run / "learning_curve.pdf",
                                                            run / "learning_curve.svg"}));
  EXPECT_GT(test_support::png_size(run / "learning_curve.png").width, 0);
  EXPECT_GT(test_support::pdf_page_size(run / "learning_curve.pdf").width, 0);
  const auto texts = test_support::svg_texts(run / "learning_curve.svg");
  auto has = [&](const std::string& t) { return std::find(texts.begin(), texts.end(), t) != texts.end(); };
  EXPECT_TRUE(has("test: 20 images (epoch 0: the network at init)"));  // the whole tiny test set
  EXPECT_TRUE(has("train: running mean over the epoch's augmented batches"));
  EXPECT_TRUE(has("learning-rate drop"));  // after epoch 2
  EXPECT_TRUE(has("lr 0.01"));
  EXPECT_TRUE(fs::exists(run / "config.yaml"));
  EXPECT_TRUE(fs::exists(run / "metrics.jsonl"));
}

TEST_F(TrainerTest, ResumeReproducesTheUninterruptedRun) {
  train_straight_and_resumed([&](const std::string& run) { return options(run, 3); });

  const auto a = MetricsLog::read_csv(dir_ / "straight" / "metrics.csv");
  const auto b = MetricsLog::read_csv(dir_ / "interrupted" / "metrics.csv");
  ASSERT_EQ(a.size(), 4u);  // the epoch-0 row is kept across the resume
  EXPECT_TRUE(fs::exists(dir_ / "interrupted" / "learning_curve.png"));
  EXPECT_FALSE(fs::exists(dir_ / "interrupted" / "learning_curve.pdf"));  // PNG only by default
  ASSERT_EQ(a.size(), b.size());
  // Equal, or both NaN (the train columns of epoch 0).
  auto same = [](double x, double y) { return x == y || (std::isnan(x) && std::isnan(y)); };
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].epoch, b[i].epoch);
    EXPECT_EQ(a[i].updates, b[i].updates);
    EXPECT_EQ(a[i].lr, b[i].lr);
    EXPECT_TRUE(same(a[i].train_loss, b[i].train_loss)) << "epoch " << i;
    EXPECT_TRUE(same(a[i].train_acc, b[i].train_acc)) << "epoch " << i;
    EXPECT_EQ(a[i].test_loss, b[i].test_loss) << "epoch " << i;
    EXPECT_EQ(a[i].test_acc, b[i].test_acc) << "epoch " << i;
  }
  const auto final_a = read_safetensors(dir_ / "straight" / "checkpoints" / "epoch_0003.safetensors");
  const auto final_b = read_safetensors(dir_ / "interrupted" / "checkpoints" / "epoch_0003.safetensors");
  ASSERT_EQ(final_a.arrays.size(), final_b.arrays.size());
  for (size_t i = 0; i < final_a.arrays.size(); ++i)
    EXPECT_EQ(final_a.arrays[i].bytes, final_b.arrays[i].bytes) << final_a.arrays[i].name;
}

// The hooks an embedding program (the Python package) drives a run with: on_epoch sees each
// saved epoch's row; stop_requested ends the run between two steps as a kill would, keeping
// the finished epochs, and --resume then finishes the same run as an uninterrupted one.
TEST_F(TrainerTest, StopRequestedEndsBetweenStepsAndResumeFinishesTheRun) {
  train(options("straight", 3));
  TrainOptions o = options("stopped", 3);
  std::vector<int64_t> epochs_seen;
  o.on_epoch = [&](const EpochMetrics& row) {
    epochs_seen.push_back(row.epoch);
    EXPECT_TRUE(fs::exists(dir_ / "stopped" / "resume.safetensors"));  // saved before the call
  };
  int steps = 0;
  o.stop_requested = [&] { return ++steps > 4; };  // epoch 1's 3 steps, then 1 of epoch 2
  const TrainSummary stopped = train(o);
  EXPECT_TRUE(stopped.stopped);
  EXPECT_EQ(stopped.epochs_done, 1);
  EXPECT_EQ(stopped.updates, 3);
  EXPECT_EQ(epochs_seen, (std::vector<int64_t>{1}));
  EXPECT_EQ(MetricsLog::read_csv(dir_ / "stopped" / "metrics.csv").size(), 2u);  // epochs 0 and 1
  TrainOptions resumed = options("stopped", 3);
  resumed.resume = true;
  EXPECT_EQ(train(resumed).epochs_done, 3);
  expect_same_run(dir_ / "straight", dir_ / "stopped", 3);
}

TEST_F(TrainerTest, NanLossStopsAndKeepsTheLastGoodCheckpoint) {
  TrainOptions o = options("diverges", 3);
  train(o);  // a good run first
  // Weights that are finite but overflow in the first convolution: the loss becomes NaN.
  const fs::path resume_file = dir_ / "diverges" / "resume.safetensors";
  SafetensorsFile state = read_safetensors(resume_file);
  for (NamedArray& array : state.arrays)
    if (array.name == "conv1.weight")
      for (size_t i = 0; i < array.bytes.size(); i += 4) {
        const float huge = 3e38f;
        std::memcpy(array.bytes.data() + i, &huge, 4);
      }
  write_safetensors(resume_file, state.arrays, state.metadata);
  const auto good = fs::last_write_time(resume_file);
  o.resume = true;
  o.config.train.num_epochs = 4;
  try {
    train(o);
    FAIL() << "expected the run to stop";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("NaN or infinite at update"), std::string::npos) << what;
    EXPECT_NE(what.find("resume.safetensors (epoch 3)"), std::string::npos) << what;
  }
  EXPECT_EQ(fs::last_write_time(dir_ / "diverges" / "resume.safetensors"), good);
  EXPECT_EQ(MetricsLog::read_csv(dir_ / "diverges" / "metrics.csv").size(), 4u);  // epochs 0 to 3
}

TEST_F(TrainerTest, UnwritableOutputFailsBeforeTraining) {
  std::ofstream(dir_ / "a-file") << "x";
  TrainOptions o = options("a-file/run", 1);
  o.data = dir_ / "no-data-here";  // never reached: the folder check comes first
  try {
    train(o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot create the folder"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("choose another --output"), std::string::npos) << e.what();
  }
}

TEST_F(TrainerTest, MissingDataSaysWhereItLooked) {
  TrainOptions o = options("run", 1);
  o.data = dir_ / "no-data-here";
  try {
    train(o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no-data-here"), std::string::npos) << e.what();
  }
}

TEST_F(TrainerTest, TrainsInBf16ChannelsLastWithFp32Checkpoints) { train_bf16_nhwc(options("bf16", 1)); }

TEST_F(TrainerTest, ResumeRecreatesWhatTheLastEpochShouldHaveLeft) {
  // A kill between the last epoch's writes once lost its checkpoint for good, and the resumed
  // run reported "test accuracy 0.00%". Everything such a kill can cut short is written again.
  train(quick("straight", 2));
  TrainOptions o = quick("cut", 2);
  train(o);
  const fs::path run = dir_ / "cut";
  fs::remove(run / "checkpoints" / "epoch_0002.safetensors");
  fs::remove(run / "checkpoints" / "epoch_0000.safetensors");
  fs::remove(run / "learning_curve.png");
  {  // metrics.csv without its last row
    std::vector<EpochMetrics> rows = MetricsLog::read_csv(run / "metrics.csv");
    std::string text = read_all(run / "metrics.csv");
    text.erase(text.rfind('\n', text.size() - 2) + 1);
    std::ofstream(run / "metrics.csv", std::ios::binary | std::ios::trunc) << text;
    ASSERT_EQ(MetricsLog::read_csv(run / "metrics.csv").size(), rows.size() - 1);
  }
  o.resume = true;
  const TrainSummary summary = train(o);
  EXPECT_EQ(summary.epochs_done, 2);
  EXPECT_EQ(test_support::metrics_without_times(run / "metrics.csv"),
            test_support::metrics_without_times(dir_ / "straight" / "metrics.csv"));
  EXPECT_EQ(summary.final_test_acc, MetricsLog::read_csv(run / "metrics.csv").back().test_acc);
  EXPECT_TRUE(fs::exists(run / "learning_curve.png"));
  for (const char* name : {"epoch_0000.safetensors", "epoch_0002.safetensors"}) {
    const SafetensorsFile a = read_safetensors(dir_ / "straight" / "checkpoints" / name);
    const SafetensorsFile b = read_safetensors(run / "checkpoints" / name);
    ASSERT_EQ(a.arrays.size(), b.arrays.size()) << name;
    for (size_t i = 0; i < a.arrays.size(); ++i) EXPECT_EQ(a.arrays[i].bytes, b.arrays[i].bytes) << name;
    EXPECT_EQ(test_support::metadata_without_run_folder(a.metadata),
              test_support::metadata_without_run_folder(b.metadata)) << name;
  }
}

TEST_F(TrainerTest, ResumeBeforeTheFirstEpochEndedStartsOver) {
  TrainOptions o = quick("early", 1);
  o.resume = true;
  // Nothing there at all: surely the wrong folder.
  EXPECT_NE(error_of([&] { train(o); }).find("holds no run; start without --resume"), std::string::npos)
      << error_of([&] { train(o); });
  // A run killed in its first epoch: it starts again.
  fs::create_directories(dir_ / "early" / "checkpoints");
  std::ofstream(dir_ / "early" / "config.yaml") << to_yaml(o.config);
  EXPECT_EQ(train(o).epochs_done, 1);
  EXPECT_EQ(MetricsLog::read_csv(dir_ / "early" / "metrics.csv").size(), 2u);  // epochs 0 and 1
}

TEST_F(TrainerTest, LeftoversOfAKilledRunAreRemovedAndOutputsWrittenWhole) {
  const fs::path run = dir_ / "leftovers";
  fs::create_directories(run / "checkpoints");
  const std::string tag = writer_tag();
  const std::string host = tag.substr(tag.find('@') + 1);
  const fs::path orphans[] = {run / "resume.safetensors.tmp", run / fmt::format("resume.safetensors.999999999@{}.tmp", host),
                              run / "checkpoints" / "epoch_0001.safetensors.123@elsewhere.tmp"};
  for (const fs::path& file : orphans) std::ofstream(file) << std::string(1000, 'x');
  const TrainOptions o = quick("leftovers", 1);
  train(o);
  for (const fs::path& file : orphans) EXPECT_FALSE(fs::exists(file)) << file;
  const std::string config_yaml = read_all(run / "config.yaml");  // the run's record, then its config
  EXPECT_EQ(config_yaml.rfind("# convlab ", 0), 0u) << config_yaml;
  EXPECT_NE(config_yaml.find("\n# device: "), std::string::npos) << config_yaml;
  const size_t examples_line = config_yaml.find("\n# test images per evaluation: ");
  ASSERT_NE(examples_line, std::string::npos) << config_yaml;
  EXPECT_EQ(config_yaml.substr(config_yaml.find("\n", examples_line + 1) + 1), to_yaml(o.config));
  for (const fs::path& folder : {run, run / "checkpoints"})
    for (const fs::directory_entry& entry : fs::directory_iterator(folder))
      EXPECT_NE(entry.path().extension(), ".tmp") << entry.path();
}

TEST_F(TrainerTest, UnwritableCheckpointsFolderFailsBeforeTraining) {
  fs::create_directories(dir_ / "blocked");
  std::ofstream(dir_ / "blocked" / "checkpoints") << "a file where the folder should be";
  TrainOptions o = quick("blocked", 1);
  o.data = dir_ / "no-data-here";  // never reached
  const std::string message = error_of([&] { train(o); });
  EXPECT_NE(message.find("choose a new or empty folder for --output"), std::string::npos) << message;
  EXPECT_NE(message.find("(checkpoints)"), std::string::npos) << message;
}

TEST_F(TrainerTest, MoreClassesThanTheModelIsRefusedAtLoad) {
  // Once caught only by the loss kernel at the first step.
  test_support::write_tiny_image_folder(dir_ / "eleven", 1, 1);
  for (const char* split : {"train", "test"}) {
    fs::create_directories(dir_ / "eleven" / split / "zebra");
    fs::copy_file(dir_ / "eleven" / split / "cat" / "0000.png", dir_ / "eleven" / split / "zebra" / "0000.png");
  }
  TrainOptions o = quick("eleven-run", 1);
  o.data = dir_ / "eleven";
  const std::string message = error_of([&] { train(o); });
  EXPECT_NE(message.find("has 11 classes"), std::string::npos) << message;
  EXPECT_NE(message.find("model_config.num_classes is 10"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(dir_ / "eleven-run" / "metrics.csv"));
}

TEST_F(TrainerTest, BadResumeMetadataAndChangedStepsAreNamed) {
  TrainOptions o = quick("meta", 1);
  train(o);
  const fs::path resume_file = dir_ / "meta" / "resume.safetensors";
  const SafetensorsFile good = read_safetensors(resume_file);
  o.resume = true;
  o.config.train.num_epochs = 3;
  auto with_metadata = [&](const std::string& key, const std::string& value) {
    std::map<std::string, std::string> meta = good.metadata;
    meta[key] = value;
    write_safetensors(resume_file, good.arrays, meta);
    return error_of([&] { train(o); });
  };
  // Epoch -3 once trained epochs -2 and -1.
  EXPECT_NE(with_metadata("epoch", "-3").find("resume.safetensors: metadata 'epoch' is -3, outside 1..100000"),
            std::string::npos);
  EXPECT_NE(with_metadata("updates", "x").find("metadata 'updates' is 'x', not a whole number"), std::string::npos);
  EXPECT_NE(with_metadata("epoch", "7").find("has finished epoch 7, beyond num_epochs 3"), std::string::npos);
  write_safetensors(resume_file, good.arrays, good.metadata);
  o.config.train.batch_size = 4;  // 2 updates per epoch where the run had 1
  EXPECT_NE(error_of([&] { train(o); }).find("train_config.batch_size: 8 in the run, 4 now"), std::string::npos)
      << error_of([&] { train(o); });
}

TEST_F(TrainerTest, AFolderHoldsOneRunTheSameFinishedRunIsCompleteAnotherIsRefused) {
  TrainOptions o = quick("one", 1);
  const TrainSummary first = train(o);
  const std::string metrics = read_all(dir_ / "one" / "metrics.csv");
  // The same run again (a newcomer's second try of the same command): complete, nothing trained.
  const TrainSummary again = train(o);
  EXPECT_TRUE(again.already_complete);
  EXPECT_FALSE(first.already_complete);
  EXPECT_EQ(again.epochs_done, 1);
  EXPECT_EQ(again.final_test_acc, first.final_test_acc);
  EXPECT_EQ(read_all(dir_ / "one" / "metrics.csv"), metrics);
  // Another run there is refused, naming what differs and the ways out; the folder is untouched.
  TrainOptions other = o;
  other.config.train.seed_id = 1;
  other.config.train.lrate = 0.05;
  std::string message = error_of([&] { train(other); });
  EXPECT_NE(message.find("holds another run"), std::string::npos) << message;
  EXPECT_NE(message.find("train_config.seed_id: 0 in the run, 1 now"), std::string::npos) << message;
  EXPECT_NE(message.find("train_config.lrate: 0.1 in the run, 0.05 now"), std::string::npos) << message;
  EXPECT_NE(message.find("--force"), std::string::npos) << message;
  other = o;
  other.eval_examples = 2;
  message = error_of([&] { train(other); });
  EXPECT_NE(message.find("--eval-examples): 4 in the run, 2 now"), std::string::npos) << message;
  EXPECT_EQ(read_all(dir_ / "one" / "metrics.csv"), metrics);
  // More epochs: the same run, to be extended with --resume.
  other = o;
  other.config.train.num_epochs = 3;
  message = error_of([&] { train(other); });
  EXPECT_NE(message.find("holds this run with num_epochs 1 (epoch 1 finished): add --resume"), std::string::npos)
      << message;
  // An unfinished run of the same settings: --resume or --force.
  TrainOptions part = quick("part", 2);
  part.stop_after_epoch = 1;
  train(part);
  part.stop_after_epoch = -1;
  message = error_of([&] { train(part); });
  EXPECT_NE(message.find("holds this run, unfinished (epoch 1 of 2): add --resume"), std::string::npos) << message;
}

TEST_F(TrainerTest, ResumeOnlyWithTheSettingsTheRunStartedWith) {
  TrainOptions o = quick("run", 3);
  o.stop_after_epoch = 1;
  train(o);
  const std::string config_yaml = read_all(dir_ / "run" / "config.yaml");
  o.resume = true;
  o.stop_after_epoch = -1;
  const std::vector<std::pair<std::function<void(TrainOptions&)>, std::string>> changes = {
      {[](TrainOptions& t) { t.config.train.seed_id = 5; }, "train_config.seed_id: 0 in the run, 5 now"},
      {[](TrainOptions& t) { t.config.train.batch_size = 4; }, "train_config.batch_size: 8 in the run, 4 now"},
      {[](TrainOptions& t) { t.config.train.train_data_size = 16; }, "train_config.train_data_size: 8 in the run, 16 now"},
      {[](TrainOptions& t) { t.config.train.lrate = 0.2; }, "train_config.lrate: 0.1 in the run, 0.2 now"},
      {[](TrainOptions& t) { t.config.train.precision = Precision::fp32; }, "train_config.precision: tf32 in the run, fp32 now"},
      {[](TrainOptions& t) { t.config.model.depth = 2; }, "model_config.depth: 1 in the run, 2 now"},
      {[](TrainOptions& t) { t.eval_examples = 3; }, "(--eval-examples): 4 in the run, 3 now"},
  };
  for (const auto& [change, expected] : changes) {
    TrainOptions changed = o;
    change(changed);
    const std::string message = error_of([&] { train(changed); });
    EXPECT_NE(message.find(expected), std::string::npos) << message;
    EXPECT_EQ(read_all(dir_ / "run" / "config.yaml"), config_yaml) << expected;  // still the run's own
  }
  // What may change: the number of epochs, where to stop, the outputs.
  o.config.train.num_epochs = 2;
  o.config.log.save_every_k_ckpt = 1;
  o.figure_formats = {FigureFormat::svg};
  EXPECT_EQ(train(o).epochs_done, 2);
  o.config.train.num_epochs = 3;
  EXPECT_EQ(train(o).epochs_done, 3);
}

TEST_F(TrainerTest, ForceMovesTheOldRunAsideAndLeavesNoneOfItsFiles) {
  TrainOptions o = quick("run", 3);
  o.config.log.save_every_k_ckpt = 1;
  train(o);
  TrainOptions other = quick("run", 1);
  other.config.train.seed_id = 2;
  other.force = true;
  EXPECT_EQ(train(other).epochs_done, 1);
  const fs::path run = dir_ / "run";
  EXPECT_FALSE(fs::exists(run / "checkpoints" / "epoch_0002.safetensors"));  // the old run's, gone from here
  EXPECT_FALSE(fs::exists(run / "checkpoints" / "epoch_0003.safetensors"));
  EXPECT_EQ(MetricsLog::read_csv(run / "metrics.csv").size(), 2u);
  std::vector<fs::path> aside;
  for (const auto& entry : fs::directory_iterator(dir_))
    if (entry.path().filename().string().rfind("run.replaced-", 0) == 0) aside.push_back(entry.path());
  ASSERT_EQ(aside.size(), 1u);
  EXPECT_TRUE(fs::exists(aside[0] / "checkpoints" / "epoch_0003.safetensors"));
  EXPECT_EQ(MetricsLog::read_csv(aside[0] / "metrics.csv").size(), 4u);
  other.resume = true;
  EXPECT_NE(error_of([&] { train(other); }).find("give one"), std::string::npos) << "--resume with --force";
}

TEST_F(TrainerTest, AFolderInUseIsRefusedAtOnceNamingItsHolder) {
  const FolderLock holder = FolderLock::acquire(dir_ / "busy", FolderKind::training_run, "convlab-train");
  TrainOptions o = quick("busy", 1);
  o.data = dir_ / "no-data-here";  // never reached
  const std::string message = error_of([&] { train(o); });
  EXPECT_NE(message.find("is in use by pid " + std::to_string(::getpid())), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(dir_ / "busy" / "config.yaml"));
}

TEST_F(TrainerTest, MoreTestImagesThanThereAreIsAWarning) {
  TrainOptions o = quick("many", 1);
  o.eval_examples = 20000;
  ::testing::internal::CaptureStderr();
  train(o);
  const std::string warnings = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(warnings.find("--eval-examples 20000 asks for more test images than the 20 there are"), std::string::npos)
      << warnings;
}

TEST_F(TrainerTest, ExperimentDirInTheHomeFolderIsExpanded) {
  const char* home = std::getenv("HOME");
  const std::string saved = home ? home : "";
  ::setenv("HOME", (dir_ / "home").c_str(), 1);
  TrainOptions o = quick("unused", 1);
  o.config.log.experiment_dir = "~/runs/x";
  const TrainSummary summary = train(o);
  if (home) ::setenv("HOME", saved.c_str(), 1); else ::unsetenv("HOME");
  EXPECT_EQ(summary.run_dir, dir_ / "home" / "runs" / "x");
  EXPECT_TRUE(fs::exists(dir_ / "home" / "runs" / "x" / "metrics.csv"));
  EXPECT_FALSE(fs::exists("~"));  // never a folder named ~
}

TEST_F(TrainerTest, CpuRunsRecordNoConvAlgorithmsAndResumeIgnoresARecord) {
  // conv_algorithms.txt pins a CUDA run's convolution algorithms on --resume. The CPU's results
  // never depend on timing: a CPU run writes no such file, and a resumed CPU run (of a run begun
  // on a GPU, say) leaves one alone, even one that would not parse, and is still exact.
  train(quick("straight", 2));
  EXPECT_FALSE(fs::exists(dir_ / "straight" / "conv_algorithms.txt"));
  TrainOptions o = quick("resumed", 2);
  o.stop_after_epoch = 1;
  EXPECT_EQ(train(o).epochs_done, 1);
  const fs::path record = dir_ / "resumed" / "conv_algorithms.txt";
  EXPECT_FALSE(fs::exists(record));
  const std::string junk = "not a record of convolution algorithms\n";
  std::ofstream(record, std::ios::binary) << junk;
  o.stop_after_epoch = -1;
  o.resume = true;
  o.conv_algorithms = dir_ / "no-such-record.txt";  // a CUDA option: the CPU ignores it too
  const std::string log = train_logged(o, 2);
  EXPECT_EQ(log.find("conv_algorithms"), std::string::npos) << log;
  EXPECT_EQ(log.find("convolution algorithms"), std::string::npos) << log;
  EXPECT_EQ(read_all(record), junk);
  expect_same_run(dir_ / "straight", dir_ / "resumed", 2);
}

TEST_F(TrainerTest, DecayEpochsAfterTheLastEpochWarn) {
  TrainOptions o = quick("warn", 1);
  o.config.train.decay_after_epochs = {5};
  o.config_source = "late.yaml";
  ::testing::internal::CaptureStderr();
  train(o);
  const std::string warning = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(warning.find("warning: late.yaml: train_config.decay_after_epochs: epoch 5 is not before the last epoch"),
            std::string::npos)
      << warning;
}

// ---- the same loop on the GPU (skipped without one) ----
//
// Each train() call starts its own CUDA context, which times cuDNN's deterministic
// algorithms afresh; two of them can pick different ones and round differently. A resumed
// run takes the algorithms of the interrupted one from conv_algorithms.txt instead, so it is
// compared bit for bit (ResumeWithPinnedConvAlgorithmsIsBitwise); the 3-epoch comparison
// below allows rounding, in strict fp32, and says whether the bits agreed.

namespace {

class CudaTrainerTest : public TrainerTest {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU";
    TrainerTest::SetUp();
  }
  TrainOptions on_gpu(const std::string& run, int epochs) {
    TrainOptions o = options(run, epochs);
    o.device = "cuda";
    o.cuda_graph = true;  // full batches replay a graph; the partial last one runs eagerly
    o.config.train.precision = Precision::fp32;
    return o;
  }
};

double relative_difference(double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-12); }

}  // namespace

TEST_F(CudaTrainerTest, ResumeFollowsTheUninterruptedRunWithinRounding) {
  train_straight_and_resumed([&](const std::string& run) { return on_gpu(run, 3); });

  const auto a = MetricsLog::read_csv(dir_ / "straight" / "metrics.csv");
  const auto b = MetricsLog::read_csv(dir_ / "interrupted" / "metrics.csv");
  ASSERT_EQ(a.size(), 4u);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE(fmt::format("epoch {}", i));
    EXPECT_EQ(a[i].epoch, b[i].epoch);
    EXPECT_EQ(a[i].updates, b[i].updates);
    EXPECT_EQ(a[i].lr, b[i].lr);
    if (i > 0) EXPECT_LE(relative_difference(b[i].train_loss, a[i].train_loss), 1e-3);
    EXPECT_LE(relative_difference(b[i].test_loss, a[i].test_loss), 1e-3);
  }
  // The final weights, as ||b - a|| / ||a|| over every parameter and buffer.
  const auto final_a = read_safetensors(dir_ / "straight" / "checkpoints" / "epoch_0003.safetensors");
  const auto final_b = read_safetensors(dir_ / "interrupted" / "checkpoints" / "epoch_0003.safetensors");
  ASSERT_EQ(final_a.arrays.size(), final_b.arrays.size());
  double difference = 0, norm = 0;
  bool bitwise = true;
  for (size_t i = 0; i < final_a.arrays.size(); ++i) {
    const NamedArray &x = final_a.arrays[i], &y = final_b.arrays[i];
    ASSERT_EQ(x.name, y.name);
    ASSERT_EQ(x.dtype, "F32") << x.name;
    ASSERT_EQ(x.bytes.size(), y.bytes.size()) << x.name;
    bitwise = bitwise && x.bytes == y.bytes;
    for (size_t k = 0; k < x.bytes.size(); k += 4) {
      float u, v;
      std::memcpy(&u, x.bytes.data() + k, 4);
      std::memcpy(&v, y.bytes.data() + k, 4);
      difference += (double(u) - v) * (double(u) - v);
      norm += double(u) * u;
    }
  }
  EXPECT_LE(std::sqrt(difference / norm), 1e-3);
  std::printf("  resumed run's final weights: %s (relative difference %.3g)\n",
              bitwise ? "bitwise equal to the uninterrupted run's" : "within rounding", std::sqrt(difference / norm));
}

TEST_F(CudaTrainerTest, TrainsInBf16ChannelsLastWithFp32Checkpoints) {
  const SafetensorsFile ckpt = train_bf16_nhwc(on_gpu("bf16", 2));
  EXPECT_EQ(ckpt.metadata.at("device").rfind("cuda:0", 0), 0u) << ckpt.metadata.at("device");
}

TEST_F(CudaTrainerTest, NanLossStopsAndKeepsTheLastGoodCheckpoint) {
  TrainOptions o = on_gpu("diverges", 1);
  train(o);
  const fs::path resume_file = dir_ / "diverges" / "resume.safetensors";
  SafetensorsFile state = read_safetensors(resume_file);
  for (NamedArray& array : state.arrays)
    if (array.name == "conv1.weight")
      for (size_t i = 0; i < array.bytes.size(); i += 4) {
        const float huge = 3e38f;  // finite, but the first convolution overflows
        std::memcpy(array.bytes.data() + i, &huge, 4);
      }
  write_safetensors(resume_file, state.arrays, state.metadata);
  const auto good = fs::last_write_time(resume_file);
  o.resume = true;
  o.config.train.num_epochs = 2;
  const std::string what = error_of([&] { train(o); });
  EXPECT_NE(what.find("NaN or infinite at update"), std::string::npos) << what;
  EXPECT_EQ(fs::last_write_time(resume_file), good);
}

TEST_F(CudaTrainerTest, ResumeWithPinnedConvAlgorithmsIsBitwise) {
  // 2 epochs straight against 1 epoch, then --resume for the 2nd: three train() calls, three
  // CUDA contexts. The resumed one pins the algorithms that the interrupted one recorded in
  // its conv_algorithms.txt. The interrupted one itself takes the straight run's record
  // (TrainOptions::conv_algorithms): two fresh runs time afresh and may choose differently,
  // which would compare timing luck rather than the resume.
  struct Variant {
    const char* name;
    Precision precision;
    ActivationLayout layout;
  };
  for (const Variant& v : {Variant{"fp32", Precision::fp32, ActivationLayout::nchw},
                           Variant{"tf32", Precision::tf32, ActivationLayout::nchw},
                           Variant{"bf16-nhwc", Precision::bf16, ActivationLayout::nhwc}}) {
    SCOPED_TRACE(v.name);
    auto make = [&](const std::string& run) {
      TrainOptions o = on_gpu(fmt::format("{}-{}", v.name, run), 2);
      o.config.train.precision = v.precision;
      o.config.train.memory_format = v.layout;
      return o;
    };
    EXPECT_EQ(train(make("straight")).epochs_done, 2);
    const fs::path straight = dir_ / fmt::format("{}-straight", v.name);
    ASSERT_TRUE(fs::exists(straight / "conv_algorithms.txt"));
    TrainOptions first = make("interrupted");
    first.stop_after_epoch = 1;
    first.conv_algorithms = straight / "conv_algorithms.txt";
    EXPECT_NE(train_logged(first, 1).find("convolution algorithms pinned as recorded in " +
                                          first.conv_algorithms.string()),
              std::string::npos);
    const fs::path run = first.config.log.experiment_dir;
    ASSERT_TRUE(fs::exists(run / "conv_algorithms.txt"));
    const std::string record = read_all(run / "conv_algorithms.txt");
    EXPECT_FALSE(record.empty());
    std::printf("  %s: conv_algorithms.txt after epoch 1:\n%s", v.name, record.c_str());
    TrainOptions second = make("interrupted");
    second.resume = true;
    const std::string log = train_logged(second, 2);
    EXPECT_NE(log.find("convolution algorithms pinned as recorded in " + (run / "conv_algorithms.txt").string()),
              std::string::npos) << log;
    expect_same_run(straight, run, 2);
    EXPECT_FALSE(read_all(run / "conv_algorithms.txt").empty());
  }
}

TEST_F(CudaTrainerTest, ConvAlgorithmsRecordThatDoesNotParseIsAClearError) {
  TrainOptions o = on_gpu("bad-record", 2);
  o.stop_after_epoch = 1;
  train(o);
  const fs::path record = dir_ / "bad-record" / "conv_algorithms.txt";
  ASSERT_TRUE(fs::exists(record));
  std::ofstream(record, std::ios::binary | std::ios::trunc) << "this is not a record of convolution algorithms\n";
  o.stop_after_epoch = -1;
  o.resume = true;
  const std::string what = error_of([&] { train(o); });
  EXPECT_NE(what.find(record.string()), std::string::npos) << what;
  EXPECT_NE(what.find("Delete it to time the algorithms afresh"), std::string::npos) << what;
  EXPECT_FALSE(fs::exists(dir_ / "bad-record" / "checkpoints" / "epoch_0002.safetensors"));
  // As the message says: without the file the run resumes, timing afresh, and records again.
  fs::remove(record);
  const std::string log = train_logged(o, 2);
  EXPECT_NE(log.find("convolution algorithms are timed afresh"), std::string::npos) << log;
  EXPECT_FALSE(read_all(record).empty());
  // A record asked for by name must be there.
  TrainOptions fresh = on_gpu("named-record", 1);
  fresh.conv_algorithms = dir_ / "no-such-record.txt";
  const std::string missing = error_of([&] { train(fresh); });
  EXPECT_NE(missing.find("no-such-record.txt: no such file of convolution algorithms to pin"), std::string::npos)
      << missing;
}
