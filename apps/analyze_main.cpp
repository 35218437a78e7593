// convlab-analyze: CKA between the layers of trained networks (or of any features saved as
// .npy), written as matrices (.npy, .csv), heatmaps, an animation and a JSON summary; and the
// learning curves of several training runs in one figure. Each call replaces its --output
// folder as a whole (framework/io/output_folder.h): it writes into a staging folder and swaps
// it in at the end, so the folder never mixes two calls' files.
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "framework/analysis/compare.h"
#include "framework/analysis/evolution.h"
#include "framework/analysis/feature_export.h"
#include "framework/analysis/feature_source.h"
#include "framework/analysis/identify.h"
#include "framework/analysis/invariance.h"
#include "framework/analysis/model_loader.h"
#include "framework/analysis/report.h"
#include "framework/backend/cuda_device.h"
#include "framework/core/host_allocator.h"
#include "framework/core/version.h"
#include "framework/data/cifar10.h"
#include "framework/io/atomic_file.h"
#include "framework/io/cli_numbers.h"
#include "framework/io/output_folder.h"
#include "framework/plot/gif_writer.h"
#include "framework/plot/heatmap_grid.h"
#include "framework/plot/runs_curves.h"
#include "models/registry.h"

namespace fs = std::filesystem;
using namespace convlab;

namespace {

constexpr const char* kUsage = R"(usage: convlab-analyze COMMAND INPUTS... [options]

commands:
  self CKPT               one checkpoint against itself (linear and RBF unless --kernel)
  pair CKPT_A CKPT_B      two checkpoints: two seeds, two depths, two architectures
  evolution RUN_DIR       every checkpoint of a run against its final checkpoint:
                          a matrix per checkpoint, an animated GIF and an overview grid
  invariance CKPT         CKA of each layer with permuted, scaled, rotated and stretched
                          copies of itself (1 = invariant)
  files A.npy B.npy ... [--vs C.npy D.npy ...]
                          similarity between feature files (n x p each, float32 or float64;
                          one file per layer), e.g. exported from PyTorch or JAX
  features CKPT           export for numpy, PyTorch or JAX: one (n, p) float32 .npy per
                          layer, logits.npy, images.npy, labels.npy, indices.npy and
                          manifest.json (--layers, --examples or --indices, --split)
  identify NET NET...     which layer is which (Kornblith et al. 2019, table 2): for two or
                          more networks of one architecture trained from different seeds
                          (checkpoints, or run folders for their final checkpoint), how
                          often each measure finds that the most similar layer of network
                          B is the corresponding layer of A, over every ordered pair; all
                          measures and both CKA kernels unless --measure / --kernel
  curves RUN_DIR...       the learning curves of convlab-train runs in one figure: test
                          accuracy and test loss against epoch, a curve per run, from
                          each run's metrics.csv (takes --output and --figure-format only)

options:
  --measure NAME          what to compute; a comma-separated list or repeated (default
                          cka): cka, rsa, procrustes, mutual_knn, cknna, svcca, pwcca,
                          ridge (docs/measures.md defines each)
  --knn K                 mutual_knn and cknna: neighbours per example, searched within
                          its batch (default 10; the batch size is part of the measure)
  --svcca-variance F      svcca and pwcca: keep the fewest principal directions that
                          hold F of the variance (default 0.99; 1 keeps all)
  --svcca-dims D          svcca and pwcca: keep D directions instead
  --ridge A               ridge: the penalty, A times the source Gram's mean eigenvalue
                          (default 0.1); the value is the leave-one-out R^2 of the row
                          layer predicting the column layer
  --kernel linear|rbf|both   CKA's kernel (default: both for self and invariance, linear otherwise)
  --rbf-frac F            RBF width = F * sqrt(median squared distance) (default 1); a
                          width that makes the kernel 1 or 0 for every pair is an error
  --estimator debiased|biased
                          CKA's HSIC estimator (default debiased, the minibatch CKA of
                          Nguyen et al. 2021; biased = Kornblith et al. 2019 per batch)
  --examples N            test images to use (default 10000; invariance: 512): the first
                          N of one fixed permutation, the images convlab-train's
                          --eval-examples N evaluates on; more than there are: all of
                          them, with a warning
  --layers A,B,...        features: the layers to export (default all), by name
                          (conv1, layer1.0, logits, ...)
  --indices FILE          features: the examples, as a .npy of integers or a text file
  --split test|train      features: the split the examples come from (default test)
  --batch-size K          examples per minibatch, or per forward pass of features
                          (default 1000); at least 4 for debiased CKA, 3 otherwise;
                          biased CKA warns below 900 and Procrustes below 800
                          (README, Batch sizes)
  --last-batch weight|drop
                          a last batch smaller than K counts for its examples (weight,
                          the default) or is left out (drop)
  --bootstrap B           B bootstrap replicates over the batches: mean, std and 95 %
                          interval of every cell (default 0: none)
  --permutations P        a permutation test of every cell: P shuffles of network B's
                          examples within each batch; summary.json gets each cell's
                          p-value (+1 corrected), the null's mean, 5th and 95th
                          percentiles and significance after Holm's correction over the
                          matrix (alpha 0.05); the heatmaps mark cells that are not
                          significant (default 0: none)
  --seed S                seed of the bootstrap and the permutations (default 0)
  --precision fp32|tf32   the Gram products of networks on a GPU: TF32 tensor cores or
                          fp32 only (default: tf32 for CKA, within 1e-4 of float64; fp32
                          for RSA and Procrustes, which TF32 moves by more); recorded in
                          summary.json. The CPU computes in fp32 (fp64 for float64 files)
  --device auto|cpu|cuda  where the networks run (default auto: CUDA when a GPU
                          answers, else the CPU)
  --data PATH             CIFAR-10 (as for convlab-train; default: searched)
  --cache-dir DIR         decoded-data cache
  --output DIR            where to write (default analysis/COMMAND); what it held from an
                          earlier analysis or export is replaced as a whole at the end
  --figure-format LIST    the figures' formats, comma-separated from png, pdf, svg
                          (default png), e.g. png,pdf,svg
  -h, --help
)";

struct Args {
  std::string command;
  std::vector<std::string> options;  // as given, for the commands that take few of them
  std::vector<std::string> inputs, versus;
  bool vs_given = false;
  std::vector<Measure> measures;
  std::string kernel;
  double rbf_frac = 1.0;
  int64_t knn = 10, svcca_dims = 0;
  double svcca_variance = 0.99, ridge = 0.1;
  cka::Estimator estimator = cka::Estimator::debiased;
  int64_t examples = 0, batch_size = 1000, bootstrap = 0, permutations = 0;
  uint64_t seed = 0;
  LastBatch last_batch = LastBatch::weight;
  std::optional<cka::GramPrecision> precision;  // unset: each measure's default
  std::string device = "auto";
  std::optional<fs::path> data;
  fs::path cache_dir, output;
  std::vector<std::string> layers;  // features
  fs::path indices;
  std::string split = "test";
  FigureFormats figure_formats = {FigureFormat::png};
};

void warn(const std::string& message) { fmt::print(stderr, "convlab-analyze: warning: {}\n", message); }

// The folder --output names, ending in a name (see folder_path), with ~ expanded.
fs::path output_folder(const std::string& text) {
  CONVLAB_CHECK(!text.empty(), "--output needs a folder name");
  return folder_path(expand_home(text));
}

// What each command takes, checked before its output folder is touched: a mistyped command
// line leaves no folder behind and waits for nothing.
void check_inputs(const Args& a) {
  const std::string& c = a.command;
  CONVLAB_CHECK(c == "self" || c == "pair" || c == "evolution" || c == "invariance" || c == "files" ||
                    c == "features" || c == "curves" || c == "identify",
                "unknown command '{}' (self, pair, evolution, invariance, files, features, curves, identify; see "
                "--help)", c);
  CONVLAB_CHECK(c != "identify" || a.inputs.size() >= 2,
                "identify takes two or more networks of one architecture (checkpoints or run folders), got {}",
                a.inputs.size());
  if (c == "self" || c == "pair") {
    const size_t want = c == "self" ? 1 : 2;
    CONVLAB_CHECK(a.inputs.size() == want, "{} takes {} checkpoint file(s), got {}", c, want, a.inputs.size());
  }
  CONVLAB_CHECK(c != "evolution" || a.inputs.size() == 1, "evolution takes one run folder, got {}", a.inputs.size());
  CONVLAB_CHECK(c != "features" || a.inputs.size() == 1, "features takes one checkpoint file, got {}", a.inputs.size());
  CONVLAB_CHECK(c != "files" || !a.inputs.empty(), "files needs .npy feature files");
  CONVLAB_CHECK(c != "curves" || !a.inputs.empty(), "curves needs one or more run folders (convlab-train --output)");
  CONVLAB_CHECK(c != "invariance" || !a.inputs.empty(), "invariance needs a checkpoint or .npy feature files");
  CONVLAB_CHECK(c != "invariance" || fs::path(a.inputs[0]).extension() != ".safetensors" || a.inputs.size() == 1,
                "invariance takes one checkpoint or a list of .npy files");
  if (c == "features") {
    CONVLAB_CHECK(a.split == "test" || a.split == "train", "--split is test or train, not '{}'", a.split);
    CONVLAB_CHECK(a.indices.empty() || a.examples == 0, "--examples and --indices both choose the examples: give one");
  }
}

void add_measures(const std::string& list, std::vector<Measure>& out) {
  size_t begin = 0;
  while (begin <= list.size()) {
    const size_t end = std::min(list.find(',', begin), list.size());
    const std::string name = list.substr(begin, end - begin);
    const std::optional<Measure> m = measure_named(name);
    CONVLAB_CHECK(m.has_value(), "--measure takes {} (a comma-separated list), not '{}'", measure_names(), name);
    if (std::find(out.begin(), out.end(), *m) == out.end()) out.push_back(*m);
    begin = end + 1;
  }
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.size() > 1 && arg[0] == '-') a.options.push_back(arg);
    auto value = [&]() -> std::string {
      CONVLAB_CHECK(i + 1 < argc, "{} needs a value (see --help)", arg);
      return argv[++i];
    };
    if (arg == "-h" || arg == "--help") {
      fmt::print("{}", kUsage);
      std::exit(0);
    } else if (arg == "--kernel") a.kernel = value();
    else if (arg == "--measure") add_measures(value(), a.measures);
    else if (arg == "--rbf-frac") a.rbf_frac = parse_number_flag(arg, value(), 0, 1e6, /*min_exclusive=*/true);
    else if (arg == "--knn") a.knn = parse_int_flag(arg, value(), 1, 100'000);
    else if (arg == "--svcca-variance") a.svcca_variance = parse_number_flag(arg, value(), 0, 1, /*min_exclusive=*/true);
    else if (arg == "--svcca-dims") a.svcca_dims = parse_int_flag(arg, value(), 1, 100'000);
    else if (arg == "--ridge") a.ridge = parse_number_flag(arg, value(), 0, 1e12, /*min_exclusive=*/true);
    else if (arg == "--estimator") {
      const std::string e = value();
      CONVLAB_CHECK(e == "debiased" || e == "biased", "--estimator is debiased or biased, not '{}'", e);
      a.estimator = e == "debiased" ? cka::Estimator::debiased : cka::Estimator::biased;
    } else if (arg == "--examples") a.examples = parse_int_flag(arg, value(), 1, 100'000'000);
    else if (arg == "--batch-size") a.batch_size = parse_int_flag(arg, value(), 1, 1'000'000);
    else if (arg == "--bootstrap") a.bootstrap = parse_int_flag(arg, value(), 0, 1'000'000);
    else if (arg == "--permutations") a.permutations = parse_int_flag(arg, value(), 0, 1'000'000);
    else if (arg == "--seed") a.seed = static_cast<uint64_t>(parse_int_flag(arg, value(), 0, INT64_MAX));
    else if (arg == "--last-batch") {
      const std::string p = value();
      CONVLAB_CHECK(p == "weight" || p == "drop", "--last-batch is weight or drop, not '{}'", p);
      a.last_batch = p == "drop" ? LastBatch::drop : LastBatch::weight;
    } else if (arg == "--precision") {
      const std::string p = value();
      CONVLAB_CHECK(p == "fp32" || p == "tf32", "--precision is fp32 or tf32, not '{}'", p);
      a.precision = p == "tf32" ? cka::GramPrecision::tf32 : cka::GramPrecision::fp32;
    } else if (arg == "--device") a.device = value();
    else if (arg == "--data") a.data = value();
    else if (arg == "--cache-dir") a.cache_dir = value();
    else if (arg == "--output") a.output = output_folder(value());
    else if (arg == "--layers") {
      const std::string text = value();
      std::stringstream list(text);
      for (std::string layer; std::getline(list, layer, ',');)
        if (!layer.empty()) a.layers.push_back(layer);
      // Naming no layer is a slip (an empty shell variable), not a request for all of them.
      CONVLAB_CHECK(!a.layers.empty(), "--layers '{}' names no layer: give layer names separated by commas "
                    "(conv1,layer1.0,logits, ...), or leave --layers out to export every layer", text);
    } else if (arg == "--indices") a.indices = value();
    else if (arg == "--split") a.split = value();
    else if (arg == "--figure-format") a.figure_formats = parse_figure_formats(value());
    else if (arg == "--vs") {
      CONVLAB_CHECK(!a.vs_given, "--vs is given twice: list every file of the second network after one --vs");
      a.vs_given = true;
    } else if (!arg.empty() && arg[0] == '-') CONVLAB_FAIL("unknown option '{}' (see --help)", arg);
    else if (a.command.empty()) a.command = arg;
    else (a.vs_given ? a.versus : a.inputs).push_back(arg);
  }
  CONVLAB_CHECK(!a.command.empty(), "no command given (see --help)");
  // curves draws what training wrote: an option of the analyses is a slip, not a setting.
  if (a.command == "curves")
    for (const std::string& option : a.options)
      if (option != "--output" && option != "--figure-format")
        CONVLAB_FAIL("curves draws the runs' metrics.csv: {} has no use here (curves takes --output and "
                     "--figure-format)", option);
  CONVLAB_CHECK(!a.vs_given || a.command == "files", "--vs belongs to the files command, not '{}'", a.command);
  CONVLAB_CHECK(!a.vs_given || !a.versus.empty(),
                "--vs needs the .npy files of the second network after it (files A.npy ... --vs B.npy ...)");
  CONVLAB_CHECK(a.bootstrap != 1, "--bootstrap needs at least 2 replicates (or 0 for none), got 1");
  CONVLAB_CHECK(a.permutations == 0 || (a.command != "invariance" && a.command != "features"),
                "--permutations tests the matrices of self, pair, evolution, files and identify; {} has none",
                a.command);
  CONVLAB_CHECK(a.command != "invariance" || a.measures.empty() || a.measures == std::vector<Measure>{Measure::cka},
                "invariance checks CKA only: leave out --measure");
  CONVLAB_CHECK(!a.precision || (a.command != "invariance" && a.command != "features"),
                "--precision sets how a GPU computes the measures of self, pair, evolution and files; {} has no use "
                "for it", a.command);
  if (a.measures.empty() && a.command == "identify")
    a.measures = {Measure::cka,        Measure::rsa,   Measure::procrustes, Measure::mutual_knn,
                  Measure::cknna,      Measure::svcca, Measure::pwcca,      Measure::ridge};
  if (a.measures.empty()) a.measures = {Measure::cka};
  check_inputs(a);
  if (a.output.empty()) a.output = fs::path("analysis") / a.command;
  return a;
}

std::vector<cka::Options> settings_for(const Args& a, bool both_by_default) {
  const std::string kernel = a.kernel.empty() ? (both_by_default ? "both" : "linear") : a.kernel;
  CONVLAB_CHECK(kernel == "linear" || kernel == "rbf" || kernel == "both", "--kernel is linear, rbf or both, not '{}'",
                kernel);
  std::vector<cka::Options> out;
  if (kernel != "rbf") out.push_back({cka::Kernel::linear(), a.estimator});
  if (kernel != "linear") out.push_back({cka::Kernel::rbf(a.rbf_frac), a.estimator});
  return out;
}

CompareSettings compare_settings(const Args& a, bool both_by_default) {
  CompareSettings s;
  s.measures = a.measures;
  s.kernels.clear();
  for (const cka::Options& o : settings_for(a, both_by_default)) s.kernels.push_back(o.kernel);
  s.estimator = a.estimator;
  s.batch_size = a.batch_size;
  s.examples = a.examples;
  s.last_batch = a.last_batch;
  s.bootstrap = a.bootstrap;
  s.permutations = a.permutations;
  s.seed = a.seed;
  s.precision = a.precision;
  s.knn = a.knn;
  s.svcca_variance = a.svcca_variance;
  s.svcca_dims = a.svcca_dims;
  s.ridge = a.ridge;
  return s;
}

std::string kernel_tag(const cka::Options& o) { return o.kernel.kind == cka::KernelKind::linear ? "linear" : "rbf"; }

// What names a matrix's files: the kernel for CKA, else the measure.
std::string matrix_tag(const CkaMatrix& m) { return m.measure == Measure::cka ? kernel_tag(m.options) : measure_name(m.measure); }

// The network side of an analysis: a device, the test images and checkpoints loaded on it.
class Networks {
 public:
  // The test images --examples asks for, else `fallback` of them (0: all).
  explicit Networks(const Args& a, int64_t fallback = 0) : handle_(a.device), device_(handle_.device()) {
    fmt::print("convlab {}: device {}\n", version(), handle_.choice());
    const Cifar10 cifar = load_cifar10(find_cifar10(a.data), a.cache_dir.empty() ? default_cache_dir() : a.cache_dir);
    const ExampleCount n = count_examples(a.examples > 0 ? a.examples : fallback, cifar.test.size(), "test images");
    if (a.examples > 0 && !n.warning.empty()) warn(n.warning);
    images_ = upload(cifar.test, device_, choose_examples(cifar.test.size(), n.count, 0));
    fmt::print("{} test images of {}, networks on {}\n", images_.size(), cifar.source_description, device_.name());
  }
  LoadedModel load(const fs::path& checkpoint) {
    return load_model(checkpoint, models::make_model, device_, models::state_size);
  }
  ModelFeatureSource features(LoadedModel& m) {
    const std::string name = m.path.parent_path().filename() == "checkpoints"
                                 ? m.path.parent_path().parent_path().filename().string()
                                 : m.path.parent_path().filename().string();
    return ModelFeatureSource(*m.model, images_,
                              fmt::format("{} epoch {}", name.empty() ? m.path.stem().string() : name, m.epoch));
  }

 private:
  DeviceHandle handle_;
  Device device_;
  DeviceImageSet images_;
};

// features CKPT: what the network computes for chosen images, as .npy files and a manifest,
// written into `folder` (committed by the caller).
std::vector<ExportedArray> export_checkpoint_features(const Args& a, ReplacedFolder& folder) {
  const DeviceHandle handle(a.device);
  fmt::print("convlab {}: device {}\n", version(), handle.choice());
  const Cifar10 cifar = load_cifar10(find_cifar10(a.data), a.cache_dir.empty() ? default_cache_dir() : a.cache_dir);
  const ImageSet& split = a.split == "test" ? cifar.test : cifar.train;
  if (a.indices.empty()) {
    const ExampleCount count = count_examples(a.examples, split.size(), fmt::format("images of the {} split", a.split));
    if (!count.warning.empty()) warn(count.warning);
  }
  const std::vector<int32_t> indices =
      a.indices.empty() ? select_examples(split.size(), a.examples) : read_example_indices(a.indices, split.size());
  FeatureExportRequest request;
  request.output = a.output;
  request.layers = a.layers;
  request.batch_size = a.batch_size;
  request.checkpoint = a.inputs[0];
  request.split = a.split;
  request.device = handle.choice();
  const int64_t n = static_cast<int64_t>(indices.size());
  if (!a.indices.empty())
    request.selection = fmt::format("--indices {}, in the file's order", a.indices.string());
  else if (n == split.size())
    request.selection = fmt::format("all {} images of the {} split, in index order", n, a.split);
  else
    request.selection = fmt::format("--examples {0}: the first {0} of one fixed pseudo-random permutation of the {1} "
                                    "split{2}, in index order", n, a.split,
                                    a.split == "test" ? " (the images convlab-train --eval-examples N evaluates on)" : "");
  LoadedModel loaded = load_model(a.inputs[0], models::make_model, handle.device());
  request.checkpoint_metadata = loaded.metadata;
  fmt::print("{} {} images of {} through {}\n", n, a.split, cifar.source_description, loaded.model->description());
  return export_features(*loaded.model, handle.device(), cifar, split, indices, request, folder);
}

void print_matrix(const CkaMatrix& m) {
  fmt::print("{}: {} vs {} ({:.1f} s, {})\n", describe_settings(m), m.row_source, m.col_source, m.seconds,
             m.precision);
  for (int64_t i = 0; i < m.rows; ++i) {
    fmt::print("  {:>12.12}", m.row_names[i]);
    for (int64_t j = 0; j < m.cols; ++j) {
      fmt::print(" {:5.3f}", m.at(i, j));
      if (m.bootstrap) fmt::print("±{:.3f}", m.bootstrap->std[static_cast<size_t>(i * m.cols + j)]);
    }
    fmt::print("\n");
  }
  if (m.permutation) {
    const stats::PermutationSummary& p = *m.permutation;
    const auto significant = std::count(p.significant.begin(), p.significant.end(), true);
    fmt::print("  permutation test ({} permutations): {} of {} cells significant after Holm's correction (alpha {:g})\n",
               p.permutations, significant, p.significant.size(), p.alpha);
  }
}

// The runs of curves as a table on stdout, and as summary.json's entries: accuracies are
// fractions as in metrics.csv, train_seconds the sum of its seconds column.
nlohmann::json print_runs(const std::vector<RunCurve>& runs) {
  size_t width = 3;
  for (const RunCurve& run : runs) width = std::max(width, run.label.size());
  fmt::print("{} run{}:\n  {:<{}} {:>6} {:>15} {:>14}\n", runs.size(), runs.size() == 1 ? "" : "s", "run", width,
             "epochs", "final test acc", "best test acc");
  nlohmann::json list = nlohmann::json::array();
  for (const RunCurve& run : runs) {
    const EpochMetrics& last = run.rows.back();
    const BestEpoch best = best_test_epoch(run.rows);
    double seconds = 0;
    for (const EpochMetrics& row : run.rows) seconds += row.seconds;
    fmt::print("  {:<{}} {:>6} {:>14.2f}% {:>13.2f}% (epoch {})\n", run.label, width, last.epoch, 100 * last.test_acc,
               100 * best.test_acc, best.epoch);
    list.push_back({{"label", run.label}, {"folder", run.folder.string()},
                    {"metrics", (run.folder / MetricsLog::kCsvName).string()}, {"epochs", last.epoch},
                    {"final_test_acc", last.test_acc}, {"best_test_acc", best.test_acc}, {"best_epoch", best.epoch},
                    {"train_seconds", seconds}});
  }
  return list;
}

// A checkpoint, or a run folder's final checkpoint.
fs::path network_file(const std::string& input) {
  if (fs::is_directory(input)) return list_checkpoints(input).back().file;
  return input;
}

// identify: the networks, every ordered pair compared under every measure, the table printed
// and written (identify.csv, identify_layers.csv), and summary.json's "identify" entry.
nlohmann::json identify_networks(const Args& a, const fs::path& staging, ReplacedFolder& folder) {
  std::vector<fs::path> files;
  for (const std::string& input : a.inputs) files.push_back(network_file(input));
  Networks nets(a);
  std::vector<LoadedModel> models;
  std::vector<std::unique_ptr<ModelFeatureSource>> sources;
  std::vector<FeatureSource*> networks;
  for (const fs::path& f : files) {
    models.push_back(nets.load(f));
    sources.push_back(std::make_unique<ModelFeatureSource>(nets.features(models.back())));
    networks.push_back(sources.back().get());
  }
  std::vector<std::vector<CkaMatrix>> matrices;
  const std::vector<IdentifyRow> rows = identify_layers(networks, compare_settings(a, true), &matrices);
  const auto pairs = identify_pairs(networks.size());
  const CkaMatrix& first = matrices.front().front();
  fmt::print("which layer is which (Kornblith et al. 2019, table 2): {} networks, {} ordered pairs, {} layers, {} "
             "examples in batches of {}\n", networks.size(), pairs.size(), first.rows, first.examples, a.batch_size);
  fmt::print("  {:<12} {:>9} {:>7} {:>6}\n", "measure", "accuracy", "layers", "pairs");
  std::string csv = "measure,accuracy,layers,pairs\n", layer_csv = "measure,layer,accuracy\n";
  nlohmann::json json_rows = nlohmann::json::array();
  for (const IdentifyRow& r : rows) {
    fmt::print("  {:<12} {:>8.1f}% {:>7} {:>6}\n", r.measure, 100 * r.accuracy, r.layers, r.pairs);
    csv += fmt::format("{},{:.6f},{},{}\n", r.measure, r.accuracy, r.layers, r.pairs);
    nlohmann::json per_layer = nlohmann::json::object();
    for (int64_t l = 0; l < r.layers; ++l) {
      layer_csv += fmt::format("{},{},{:.6f}\n", r.measure, first.row_names[l], r.per_layer[l]);
      per_layer[first.row_names[l]] = r.per_layer[l];
    }
    json_rows.push_back({{"measure", r.measure}, {"accuracy", r.accuracy}, {"layers", r.layers}, {"pairs", r.pairs},
                         {"per_layer", per_layer}});
  }
  // For each ordered pair and measure, the layer of B each layer of A found most similar.
  nlohmann::json pair_list = nlohmann::json::array();
  for (size_t p = 0; p < pairs.size(); ++p) {
    nlohmann::json found = nlohmann::json::object();
    for (const CkaMatrix& m : matrices[p]) {
      nlohmann::json best = nlohmann::json::object();
      for (int64_t i = 0; i < m.rows; ++i) {
        int64_t chosen = -1;
        for (int64_t j = 0; j < m.cols; ++j) {
          const double v = m.at(i, j);
          if (std::isnan(v)) continue;
          if (chosen < 0 || (m.measure == Measure::procrustes ? v < m.at(i, chosen) : v > m.at(i, chosen))) chosen = j;
        }
        best[m.row_names[i]] = chosen < 0 ? nlohmann::json() : nlohmann::json(m.col_names[chosen]);
      }
      found[identify_label(m)] = best;
    }
    pair_list.push_back({{"a", files[pairs[p].first].string()}, {"b", files[pairs[p].second].string()},
                         {"most_similar", found}});
  }
  const fs::path table = staging / "identify.csv", by_layer = staging / "identify_layers.csv";
  write_file_atomically(table, [&](std::ostream& out) { out << csv; });
  write_file_atomically(by_layer, [&](std::ostream& out) { out << layer_csv; });
  std::vector<std::string> inputs;
  for (const fs::path& f : files) inputs.push_back(f.string());
  nlohmann::json settings = nlohmann::json::object();
  for (const CkaMatrix& m : matrices.front())
    for (const auto& [key, value] : m.parameters) settings[key] = value;
  return {{"networks", inputs},
          {"examples", first.examples},
          {"batch_size", a.batch_size},
          {"estimator", cka::estimator_name(a.estimator)},
          {"parameters", settings},
          {"rule", "per ordered pair (A, B) and layer i of A: the most similar layer of B (largest value; smallest "
                   "Procrustes distance) is i; a tie of t layers including i counts 1/t; NaN is never most similar"},
          {"file", folder.final_path(table).string()},
          {"layers_file", folder.final_path(by_layer).string()},
          {"rows", json_rows},
          {"pairs", pair_list}};
}

}  // namespace

int main(int argc, char** argv) try {
  return_large_blocks_to_the_system();
  const auto start = std::chrono::steady_clock::now();
  const Args a = parse(argc, argv);
  // curves reads its runs first: a folder that is not a run's leaves no output folder behind.
  std::vector<RunCurve> runs;
  if (a.command == "curves") runs = read_run_curves(std::vector<fs::path>(a.inputs.begin(), a.inputs.end()));
  // Taken before any slow work: a folder in use is refused at once, naming its writer. All is
  // written into `staging` and swapped in for --output by commit() at the end.
  ReplacedFolder folder(a.output, a.command == "features" ? FolderKind::feature_export : FolderKind::analysis,
                        "convlab-analyze", "--output");
  const fs::path& staging = folder.staging();
  std::string command_line;
  for (int i = 0; i < argc; ++i) command_line += (i ? " " : "") + std::string(argv[i]);
  if (a.command == "features") {
    const std::vector<ExportedArray> files = export_checkpoint_features(a, folder);
    folder.commit();
    for (const ExportedArray& array : files) fmt::print("  {}\n", array.file.string());
    fmt::print("  {}\n", (a.output / "manifest.json").string());
    return 0;
  }
  std::vector<std::unique_ptr<CkaMatrix>> kept;
  std::vector<AnalysisRecord> records;
  std::vector<std::string> written_lines;  // printed once the files are in place
  nlohmann::json extra = nlohmann::json::object();  // summary.json's fields besides the matrices
  auto final_paths = [&](const std::vector<fs::path>& files) {
    std::vector<fs::path> paths;
    for (const fs::path& f : files) paths.push_back(folder.final_path(f));
    return paths;
  };
  bool precision_warned = false;
  auto record = [&](CkaMatrix m, const std::string& name, const std::string& title) {
    if (a.precision && !precision_warned && m.precision.rfind("cpu", 0) == 0) {
      precision_warned = true;
      warn(fmt::format("--precision {} applies to a GPU; this analysis ran on the CPU ({})",
                       cka::precision_name(*a.precision), m.precision));
    }
    kept.push_back(std::make_unique<CkaMatrix>(std::move(m)));
    records.push_back({name, kept.back().get(),
                       final_paths(write_cka_matrix(*kept.back(), staging / name, title, a.figure_formats))});
    print_matrix(*kept.back());
  };

  if (a.command == "self" || a.command == "pair") {
    const size_t want = a.command == "self" ? 1 : 2;
    Networks nets(a);
    LoadedModel first = nets.load(a.inputs[0]);
    ModelFeatureSource fa = nets.features(first);
    std::unique_ptr<LoadedModel> second;
    std::unique_ptr<ModelFeatureSource> fb;
    if (want == 2) {
      second = std::make_unique<LoadedModel>(nets.load(a.inputs[1]));
      fb = std::make_unique<ModelFeatureSource>(nets.features(*second));
    }
    for (CkaMatrix& m : compare_layers(fa, fb.get(), compare_settings(a, a.command == "self"))) {
      const std::string title = m.row_source == m.col_source
                                    ? fmt::format("{}: {} against itself", describe_settings(m), m.row_source)
                                    : fmt::format("{}: {} vs {}", describe_settings(m), m.row_source, m.col_source);
      const std::string name = a.command + "_" + matrix_tag(m);
      record(std::move(m), name, title);
    }
  } else if (a.command == "evolution") {
    const std::vector<RunCheckpoint> checkpoints = list_checkpoints(a.inputs[0]);
    Networks nets(a);
    // Every checkpoint's network at once, so that the final one's features are extracted once
    // per batch for all of them (compare_against).
    std::vector<LoadedModel> models;
    std::vector<std::unique_ptr<ModelFeatureSource>> sources;
    for (const RunCheckpoint& c : checkpoints) {
      models.push_back(nets.load(c.file));
      sources.push_back(std::make_unique<ModelFeatureSource>(nets.features(models.back())));
    }
    std::vector<FeatureSource*> against;
    for (auto& source : sources) against.push_back(source.get());
    const int64_t final_epoch = checkpoints.back().epoch;
    std::vector<std::vector<CkaMatrix>> results =
        compare_against(against, *sources.back(), compare_settings(a, false));
    // Output o of every checkpoint (a CKA kernel, RSA or Procrustes): files, animation, grid.
    // The first keeps the plain names (epoch_NNNN, evolution.gif); the others add their tag.
    for (size_t o = 0; o < results.front().size(); ++o) {
      const std::string suffix = o == 0 ? std::string() : "_" + matrix_tag(results.front()[o]);
      std::map<int64_t, const CkaMatrix*> by_epoch;
      for (size_t c = 0; c < checkpoints.size(); ++c) {
        CkaMatrix& m = results[c][o];
        const std::string title = fmt::format("{}: epoch {} vs final (epoch {})", describe_settings(m),
                                              checkpoints[c].epoch, final_epoch);
        record(std::move(m), fmt::format("epoch_{:04d}{}", checkpoints[c].epoch, suffix), title);
        by_epoch[checkpoints[c].epoch] = kept.back().get();
      }
      // The animation: one labelled frame per checkpoint, all of the first frame's size.
      const fs::path gif_path = staging / ("evolution" + suffix + ".gif");
      std::unique_ptr<GifWriter> gif;
      int gif_width = 0, gif_height = 0;
      for (const auto& [epoch, m] : by_epoch) {
        const HeatmapSpec spec = heatmap_of(*m, fmt::format("epoch {} vs final (epoch {})", epoch, final_epoch));
        const Figure frame = gif ? heatmap_figure(spec, gif_width, gif_height) : heatmap_figure(spec);
        if (!gif) {
          gif_width = frame.width();
          gif_height = frame.height();
          gif = std::make_unique<GifWriter>(gif_path, gif_width, gif_height, 60);
        }
        gif->add_frame(frame, epoch == final_epoch ? std::optional<int>(200) : std::nullopt);
      }
      gif->finish();
      std::vector<int64_t> epochs;
      for (const auto& [epoch, m] : by_epoch) epochs.push_back(epoch);
      std::vector<HeatmapSpec> panels;
      for (int64_t e : grid_epochs(epochs)) panels.push_back(heatmap_of(*by_epoch[e], fmt::format("epoch {}", e)));
      const auto grid = save_heatmap_grid(
          panels, 3, fmt::format("{} against the final network", describe_settings(*by_epoch.begin()->second)),
          staging / ("evolution_grid" + suffix), a.figure_formats);
      std::string grid_files;
      for (const fs::path& f : final_paths(grid)) grid_files += (grid_files.empty() ? "" : " ") + f.string();
      written_lines.push_back(fmt::format("animation: {}\ngrid: {}", folder.final_path(gif_path).string(), grid_files));
    }
  } else if (a.command == "invariance" || a.command == "files") {
    std::unique_ptr<Networks> nets;
    std::unique_ptr<LoadedModel> model;
    std::unique_ptr<FeatureSource> source, versus;
    if (a.command == "invariance" && fs::path(a.inputs[0]).extension() == ".safetensors") {
      nets = std::make_unique<Networks>(a, /*fallback=*/512);
      model = std::make_unique<LoadedModel>(nets->load(a.inputs[0]));
      source = std::make_unique<ModelFeatureSource>(nets->features(*model));
    } else {
      const std::vector<fs::path> rows(a.inputs.begin(), a.inputs.end()), columns(a.versus.begin(), a.versus.end());
      source = std::make_unique<NpyFeatureSource>(rows);
      if (!columns.empty()) versus = std::make_unique<NpyFeatureSource>(columns);
      std::vector<std::vector<fs::path>> lists = {rows};
      if (!columns.empty()) lists.push_back(columns);
      const FeatureFileOrigins origins = check_feature_file_origins(lists);
      for (size_t l = 0; l < origins.lines.size(); ++l)
        fmt::print("{}: {}\n", l == 0 ? "inputs" : "--vs", origins.lines[l]);
      for (const std::string& warning : origins.warnings) warn(warning);
      const ExampleCount n = count_examples(a.examples, source->examples(), "examples (rows of the feature files)");
      if (!n.warning.empty()) warn(n.warning);
    }
    if (a.command == "files") {
      for (CkaMatrix& m : compare_layers(*source, versus.get(), compare_settings(a, false))) {
        const std::string title = fmt::format("{}: {} vs {}", describe_settings(m), m.row_source, m.col_source);
        const std::string name = "files_" + matrix_tag(m);
        record(std::move(m), name, title);
      }
    } else {
      const int64_t n = count_examples(a.examples > 0 ? a.examples : 512, source->examples(), "").count;
      const std::vector<Tensor> layers = source->batch(0, n);
      extra["invariance"] = nlohmann::json::array();
      for (const cka::Options& o : settings_for(a, true)) {
        const auto rows = invariance_checks(layers, source->layer_names(), o, 1);
        fmt::print("{} CKA of each layer with a transformed copy ({} examples; 1 = invariant):\n", kernel_tag(o), n);
        fmt::print("  {:<14} {:>8} {:>12} {:>10} {:>12} {:>16}\n", "layer", "features", "permutation", "scaling",
                   "orthogonal", "diag. stretch");
        std::string csv = "layer,features,permutation,scaling,orthogonal,invertible_diagonal\n";
        nlohmann::json json_rows = nlohmann::json::array();  // the CSV's numbers, in full
        for (const InvarianceRow& r : rows) {
          fmt::print("  {:<14.14} {:>8} {:>12.2e} {:>10.2e} {:>12.2e} {:>16.4f}\n", r.layer, r.features,
                     1 - r.permutation, 1 - r.scaling, 1 - r.orthogonal, 1 - r.invertible);
          csv += fmt::format("{},{},{:.12f},{:.12f},{:.12f},{:.12f}\n", r.layer, r.features, r.permutation, r.scaling,
                             r.orthogonal, r.invertible);
          json_rows.push_back({{"layer", r.layer}, {"features", r.features}, {"permutation", r.permutation},
                               {"scaling", r.scaling}, {"orthogonal", r.orthogonal},
                               {"invertible_diagonal", r.invertible}});
        }
        fmt::print("  (columns: 1 - CKA; the first three stay near 0, the stretch does not)\n");
        const fs::path csv_file = staging / fmt::format("invariance_{}.csv", kernel_tag(o));
        write_file_atomically(csv_file, [&](std::ostream& out) { out << csv; });
        extra["invariance"].push_back({{"kernel", kernel_tag(o)}, {"examples", n},
                                       {"file", folder.final_path(csv_file).string()}, {"rows", json_rows}});
      }
    }
  } else if (a.command == "identify") {
    extra["identify"] = identify_networks(a, staging, folder);
  } else if (a.command == "curves") {
    const std::vector<fs::path> figures =
        final_paths(save_runs_curves(runs, staging / "learning_curves", a.figure_formats));
    std::vector<std::string> files;
    for (const fs::path& f : figures) files.push_back(f.string());
    extra["curves"] = {{"file", files.front()}, {"files", files}, {"runs", print_runs(runs)}};
    std::string shown;
    for (const std::string& f : files) shown += (shown.empty() ? "" : " ") + f;
    written_lines.push_back("figure: " + shown);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  write_summary(staging / "summary.json", command_line, a.inputs, records, seconds, extra);
  folder.commit();
  for (const std::string& line : written_lines) fmt::print("{}\n", line);
  fmt::print("wrote {} in {:.1f} s\n", a.output.string(), seconds);
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "convlab-analyze: error: {}\n", e.what());
  return 1;
}
