// The training loop of the reference protocol: per-epoch shuffle, augmentation, softmax
// cross-entropy (+ the L2 penalty), clipped Nesterov SGD on the multistep schedule, test
// evaluation at init and every epoch, metrics, checkpoints and exact resume.
//
// A run folder (log_config.experiment_dir) holds:
//   config.yaml                     the resolved config, after comments naming convlab's
//                                   version and the device
//   metrics.csv, metrics.jsonl      one row per epoch, from epoch 0 (the network at init)
//   learning_curve.png              accuracy and loss against epoch (also .pdf, .svg on request)
//   checkpoints/epoch_NNNN.safetensors  at init (0), every save_every_k_ckpt epochs, and last
//   resume.safetensors              the latest epoch with momentum buffers, for --resume
//   conv_algorithms.txt             CUDA only: the convolution algorithms chosen
//                                   (conv_algorithm_record), written at each epoch end when
//                                   it changed, before resume.safetensors; --resume pins them,
//                                   so the resumed run repeats the uninterrupted one bit for
//                                   bit. A CPU run writes none and a resumed CPU run ignores it.
#pragma once

#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "framework/io/config.h"
#include "framework/io/metrics_log.h"
#include "framework/nn/model_factory.h"
#include "framework/plot/figure_format.h"

namespace convlab {

struct TrainOptions {
  TrainConfig config;
  ModelFactory make_model;  // models::make_model
  std::string config_source = "(defaults)";         // for messages and records
  std::optional<std::filesystem::path> data;        // CIFAR-10 source; searched for when empty
  bool fetch_missing_data = false;                  // when none is found, download it (data/cifar10_fetch.h)
  std::filesystem::path cache_dir;                  // decoded-data cache; default_cache_dir() when empty
  std::string device = "auto";                      // auto (CUDA when a GPU answers), cpu or cuda
  int64_t eval_examples = 0;                        // test images per evaluation; 0 = all
  int64_t eval_batch = 500;
  bool resume = false;
  // Start over in a folder that holds a run, moving its old contents aside
  // (<dir>.replaced-<time>); without it (and without resume) such a folder is refused, or,
  // when it holds this very run finished, reported complete.
  bool force = false;
  // CUDA: a conv_algorithms.txt (another run's, say) whose convolution algorithms this run
  // takes instead of timing, from its first convolution on, so that it repeats that run bit for
  // bit; a file that is missing or does not parse is an error. Empty: a fresh run times, and
  // --resume pins the run folder's own conv_algorithms.txt. Ignored on the CPU.
  std::filesystem::path conv_algorithms;
  bool quiet = false;                               // no progress bar, no per-epoch lines
  bool cuda_graph = false;                          // replay each full-batch step as a CUDA graph
  bool sync_each_op = false;                        // CUDA: wait for and check every op (diagnosis)
  int64_t stop_after_epoch = -1;                    // end early after this epoch (-1: never)
  std::FILE* log = stdout;
  FigureFormats figure_formats = {FigureFormat::png};  // the learning curve's
  // Called with each trained epoch's metrics row once the epoch is saved (its checkpoint and
  // resume.safetensors written): the run folder may be read there, and an exception thrown
  // there ends the run with that epoch kept.
  std::function<void(const EpochMetrics&)> on_epoch;
  // Asked before every training step: true ends the run there as a kill would, dropping the
  // epoch in progress; the folder holds every finished epoch, and --resume continues it.
  std::function<bool()> stop_requested;
};

struct TrainSummary {
  std::filesystem::path run_dir;
  // The folder held this very run, finished (same settings, all epochs done): nothing was
  // trained, and the figures are the run's.
  bool already_complete = false;
  bool stopped = false;  // by stop_requested; epochs_done is the last finished epoch
  int64_t epochs_done = 0;
  int64_t updates = 0;
  double final_train_acc = 0, final_test_acc = 0, final_test_loss = 0;
  double seconds = 0;
  std::vector<std::filesystem::path> learning_curve;  // the figure's files
};

TrainSummary train(const TrainOptions& options);

}  // namespace convlab
