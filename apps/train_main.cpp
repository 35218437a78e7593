// convlab-train: trains a model on CIFAR-10 from a reference-style YAML config.
#include <fmt/core.h>

#include <cstring>
#include <string>

#include "framework/core/error.h"
#include "framework/core/host_allocator.h"
#include "framework/io/cli_numbers.h"
#include "framework/io/config.h"
#include "framework/io/output_folder.h"
#include "framework/train/trainer.h"
#include "models/registry.h"

namespace {

constexpr const char* kUsage = R"(usage: convlab-train [CONFIG.yaml] [options]

Trains as the config says (the reference's YAML schema; see --list-keys) and writes
metrics, checkpoints and a learning-curve plot into log_config.experiment_dir.

options (each overrides the config):
  --data PATH            CIFAR-10: the binary release folder, an image folder
                         (train/<class>/*, test/<class>/*) or a .tar.gz of either;
                         default: $CIFAR10_DIR, then ./data/..., ../shared/data/...;
                         when none holds a copy, the official binary release is
                         downloaded into ./data once (tools/fetch-cifar10.sh)
  --no-download          never download CIFAR-10: fail when no copy is found
  --cache-dir DIR        where the decoded data set is cached ($CONVLAB_CACHE_DIR,
                         default ~/.cache/convlab)
  --device auto|cpu|cuda where to train (default auto: CUDA when a GPU answers, else
                         the CPU; the first line says which)
  --epochs N             train_config.num_epochs
  --train-size N         train_config.train_data_size (a fixed random subset)
  --batch-size N         train_config.batch_size
  --seed N               train_config.seed_id
  --output DIR           log_config.experiment_dir
  --eval-examples N      test images per evaluation, 1..10000000 (default: all 10,000)
  --resume               continue the run in the output folder after its last epoch;
                         only with the settings it was started with (--epochs may
                         grow it; see README, Resuming)
  --force                start over in an output folder that holds a run: its old
                         contents are moved aside to DIR.replaced-<time>
  --stop-after-epoch N   end after epoch N as if interrupted (resume later)
  --cuda-graph           on CUDA, replay each full-batch step as one CUDA graph
  --conv-algorithms FILE on CUDA, take the convolution algorithms recorded in FILE (a
                         run folder's conv_algorithms.txt) instead of timing them, to
                         repeat that run bit for bit; --resume does so with its own
  --nondeterministic     on CUDA, also admit non-deterministic cuDNN algorithms when
                         they time faster (train_config.deterministic: false)
  --precision P          train_config.precision: fp32, tf32 (default) or bf16
  --memory-format F      train_config.memory_format: auto (default), nchw or nhwc
  --sync-each-op         on CUDA, wait for and check every op, so that a fault names
                         its op and shapes (slow; also CONVLAB_SYNC_EACH_OP=1)
  --figure-format LIST   the learning curve's formats, comma-separated from png,
                         pdf, svg (default png)
  --quiet                no progress bar or per-epoch lines
  --list-keys            print every config key with its default and exit
  --print-config         print the resolved config (YAML, the config file with every
                         option above applied) and exit
  -h, --help             this text
)";

// A flag that overrides a config key accepts that key's range.
int parse_key_flag(const std::string& flag, const std::string& text, const std::string& key) {
  const convlab::KeyRange& range = convlab::config_key_range(key);
  return static_cast<int>(convlab::parse_int_flag(flag, text, static_cast<int64_t>(range.min),
                                                  static_cast<int64_t>(range.max)));
}

}  // namespace

int main(int argc, char** argv) try {
  using namespace convlab;
  return_large_blocks_to_the_system();
  TrainOptions options;
  options.make_model = models::make_model;
  std::string config_path;
  bool download = true, print_config = false;
  struct Overrides {
    std::optional<int> epochs, train_size, batch_size, seed;
    std::optional<std::string> output;
    bool nondeterministic = false;
    std::optional<Precision> precision;
    std::optional<ActivationLayout> memory_format;
  } overrides;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      CONVLAB_CHECK(i + 1 < argc, "{} needs a value (see --help)", arg);
      return argv[++i];
    };
    if (arg == "-h" || arg == "--help") {
      fmt::print("{}", kUsage);
      return 0;
    } else if (arg == "--list-keys") {
      fmt::print("{}", describe_config_keys());
      return 0;
    } else if (arg == "--data") options.data = value();
    else if (arg == "--no-download") download = false;
    else if (arg == "--cache-dir") options.cache_dir = value();
    else if (arg == "--device") options.device = value();
    else if (arg == "--epochs") overrides.epochs = parse_key_flag(arg, value(), "train_config.num_epochs");
    else if (arg == "--train-size") overrides.train_size = parse_key_flag(arg, value(), "train_config.train_data_size");
    else if (arg == "--batch-size") overrides.batch_size = parse_key_flag(arg, value(), "train_config.batch_size");
    else if (arg == "--seed") overrides.seed = parse_key_flag(arg, value(), "train_config.seed_id");
    else if (arg == "--output") overrides.output = value();
    else if (arg == "--eval-examples") options.eval_examples = parse_int_flag(arg, value(), 1, 10'000'000);
    else if (arg == "--resume") options.resume = true;
    else if (arg == "--force") options.force = true;
    else if (arg == "--print-config") print_config = true;
    else if (arg == "--stop-after-epoch")
      options.stop_after_epoch = parse_key_flag(arg, value(), "train_config.num_epochs");
    else if (arg == "--quiet") options.quiet = true;
    else if (arg == "--cuda-graph") options.cuda_graph = true;
    else if (arg == "--conv-algorithms") options.conv_algorithms = value();
    else if (arg == "--nondeterministic") overrides.nondeterministic = true;
    else if (arg == "--sync-each-op") options.sync_each_op = true;
    else if (arg == "--precision") overrides.precision = parse_precision(value());
    else if (arg == "--memory-format") overrides.memory_format = parse_activation_layout(value());
    else if (arg == "--figure-format") options.figure_formats = parse_figure_formats(value());
    else if (!arg.empty() && arg[0] != '-' && config_path.empty()) config_path = arg;
    else CONVLAB_FAIL("unknown option '{}' (see --help)", arg);
  }
  if (!config_path.empty()) {
    options.config = load_config(config_path);
    options.config_source = config_path;
  }
  TrainConfig& c = options.config;
  if (overrides.epochs) c.train.num_epochs = *overrides.epochs;
  if (overrides.train_size) c.train.train_data_size = *overrides.train_size;
  if (overrides.batch_size) c.train.batch_size = *overrides.batch_size;
  if (overrides.seed) c.train.seed_id = *overrides.seed;
  if (overrides.output) c.log.experiment_dir = *overrides.output;
  c.log.experiment_dir = expand_home(c.log.experiment_dir).string();
  if (overrides.nondeterministic) c.train.deterministic = false;
  if (overrides.precision) c.train.precision = *overrides.precision;
  if (overrides.memory_format) c.train.memory_format = *overrides.memory_format;
  validate_config(c, options.config_source + " with command-line overrides");
  if (print_config) {
    fmt::print("{}", to_yaml(c));
    return 0;
  }
  options.fetch_missing_data = download;

  const TrainSummary summary = train(options);
  if (summary.already_complete)
    fmt::print("the run in {} is complete already: {} epochs ({} updates), test accuracy {:.2f}%. Nothing to do: "
               "--resume with a larger --epochs continues it, --force starts it over (moving it aside)\n",
               summary.run_dir.string(), summary.epochs_done, summary.updates, 100 * summary.final_test_acc);
  else
    fmt::print("finished {} epochs ({} updates) in {:.1f} s: test accuracy {:.2f}%\n", summary.epochs_done,
               summary.updates, summary.seconds, 100 * summary.final_test_acc);
  fmt::print("metrics:     {}\n", (summary.run_dir / "metrics.csv").string());
  fmt::print("checkpoints: {}\n", (summary.run_dir / "checkpoints").string());
  std::string plots;
  for (const auto& file : summary.learning_curve) plots += (plots.empty() ? "" : " ") + file.string();
  fmt::print("plot:        {}\n", plots);
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "convlab-train: error: {}\n", e.what());
  return 1;
}
