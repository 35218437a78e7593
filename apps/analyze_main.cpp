// convlab-analyze: CKA between the layers of trained networks (or of any features saved as
// .npy), written as matrices (.npy, .csv), heatmaps, an animation and a JSON summary.
#include <fmt/core.h>

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "framework/analysis/compare.h"
#include "framework/analysis/evolution.h"
#include "framework/analysis/feature_source.h"
#include "framework/analysis/invariance.h"
#include "framework/analysis/model_loader.h"
#include "framework/analysis/report.h"
#include "framework/backend/cuda_device.h"
#include "framework/data/cifar10.h"
#include "framework/io/atomic_file.h"
#include "framework/io/cli_numbers.h"
#include "framework/plot/gif_writer.h"
#include "framework/plot/heatmap_grid.h"
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
                          CKA between feature files (n x p each, float32 or float64; one
                          file per layer), e.g. exported from PyTorch or JAX

options:
  --kernel linear|rbf|both   (default: both for self and invariance, linear otherwise)
  --rbf-frac F            RBF width = F * sqrt(median squared distance) (default 1)
  --estimator debiased|biased
                          HSIC estimator (default debiased, the minibatch CKA of
                          Nguyen et al. 2021; biased = Kornblith et al. 2019 per batch)
  --examples N            test images to use (default 10000; invariance: 512)
  --batch-size K          examples per CKA minibatch (default 1000)
  --device cpu|cuda       where the networks run (default cpu)
  --data PATH             CIFAR-10 (as for convlab-train; default: searched)
  --cache-dir DIR         decoded-data cache
  --output DIR            where to write (default analysis/COMMAND)
  -h, --help
)";

struct Args {
  std::string command;
  std::vector<std::string> inputs, versus;
  std::string kernel;
  double rbf_frac = 1.0;
  cka::Estimator estimator = cka::Estimator::debiased;
  int64_t examples = 0, batch_size = 1000;
  std::string device = "cpu";
  std::optional<fs::path> data;
  fs::path cache_dir, output;
};

Args parse(int argc, char** argv) {
  Args a;
  bool after_vs = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      CONVLAB_CHECK(i + 1 < argc, "{} needs a value (see --help)", arg);
      return argv[++i];
    };
    if (arg == "-h" || arg == "--help") {
      fmt::print("{}", kUsage);
      std::exit(0);
    } else if (arg == "--kernel") a.kernel = value();
    else if (arg == "--rbf-frac") a.rbf_frac = parse_number_flag(arg, value(), 0, 1e6, /*min_exclusive=*/true);
    else if (arg == "--estimator") {
      const std::string e = value();
      CONVLAB_CHECK(e == "debiased" || e == "biased", "--estimator is debiased or biased, not '{}'", e);
      a.estimator = e == "debiased" ? cka::Estimator::debiased : cka::Estimator::biased;
    } else if (arg == "--examples") a.examples = parse_int_flag(arg, value(), 1, 100'000'000);
    else if (arg == "--batch-size") a.batch_size = parse_int_flag(arg, value(), 1, 1'000'000);
    else if (arg == "--device") a.device = value();
    else if (arg == "--data") a.data = value();
    else if (arg == "--cache-dir") a.cache_dir = value();
    else if (arg == "--output") a.output = value();
    else if (arg == "--vs") after_vs = true;
    else if (!arg.empty() && arg[0] == '-') CONVLAB_FAIL("unknown option '{}' (see --help)", arg);
    else if (a.command.empty()) a.command = arg;
    else (after_vs ? a.versus : a.inputs).push_back(arg);
  }
  CONVLAB_CHECK(!a.command.empty(), "no command given (see --help)");
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

std::string kernel_tag(const cka::Options& o) { return o.kernel.kind == cka::KernelKind::linear ? "linear" : "rbf"; }

// The network side of an analysis: a device, the test images and checkpoints loaded on it.
class Networks {
 public:
  explicit Networks(const Args& a) : handle_(a.device), device_(handle_.device()) {
    const Cifar10 cifar = load_cifar10(find_cifar10(a.data), a.cache_dir.empty() ? default_cache_dir() : a.cache_dir);
    const int64_t n = a.examples > 0 ? std::min<int64_t>(a.examples, cifar.test.size()) : cifar.test.size();
    images_ = upload(cifar.test, device_, choose_examples(cifar.test.size(), n, 0));
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

void print_matrix(const CkaMatrix& m) {
  fmt::print("{}: {} vs {} ({:.1f} s)\n", describe_settings(m), m.row_source, m.col_source, m.seconds);
  for (int64_t i = 0; i < m.rows; ++i) {
    fmt::print("  {:>12.12}", m.row_names[i]);
    for (int64_t j = 0; j < m.cols; ++j) fmt::print(" {:5.3f}", m.at(i, j));
    fmt::print("\n");
  }
}

}  // namespace

int main(int argc, char** argv) try {
  const auto start = std::chrono::steady_clock::now();
  const Args a = parse(argc, argv);
  fs::create_directories(a.output);
  std::string command_line;
  for (int i = 0; i < argc; ++i) command_line += (i ? " " : "") + std::string(argv[i]);
  std::vector<std::unique_ptr<CkaMatrix>> kept;
  std::vector<AnalysisRecord> records;
  auto record = [&](CkaMatrix m, const std::string& name, const std::string& title) {
    kept.push_back(std::make_unique<CkaMatrix>(std::move(m)));
    records.push_back({name, kept.back().get(), write_cka_matrix(*kept.back(), a.output / name, title)});
    print_matrix(*kept.back());
  };

  if (a.command == "self" || a.command == "pair") {
    const size_t want = a.command == "self" ? 1 : 2;
    CONVLAB_CHECK(a.inputs.size() == want, "{} takes {} checkpoint file(s), got {}", a.command, want, a.inputs.size());
    Networks nets(a);
    LoadedModel first = nets.load(a.inputs[0]);
    ModelFeatureSource fa = nets.features(first);
    std::unique_ptr<LoadedModel> second;
    std::unique_ptr<ModelFeatureSource> fb;
    if (want == 2) {
      second = std::make_unique<LoadedModel>(nets.load(a.inputs[1]));
      fb = std::make_unique<ModelFeatureSource>(nets.features(*second));
    }
    for (CkaMatrix& m : compare_layers(fa, fb.get(), settings_for(a, a.command == "self"), a.batch_size, a.examples)) {
      const std::string title = m.row_source == m.col_source
                                    ? fmt::format("{}: {} against itself", describe_settings(m), m.row_source)
                                    : fmt::format("{}: {} vs {}", describe_settings(m), m.row_source, m.col_source);
      const std::string name = a.command + "_" + kernel_tag(m.options);
      record(std::move(m), name, title);
    }
  } else if (a.command == "evolution") {
    CONVLAB_CHECK(a.inputs.size() == 1, "evolution takes one run folder, got {}", a.inputs.size());
    const std::vector<RunCheckpoint> checkpoints = list_checkpoints(a.inputs[0]);
    Networks nets(a);
    LoadedModel final_model = nets.load(checkpoints.back().file);
    ModelFeatureSource final_features = nets.features(final_model);
    const std::vector<cka::Options> settings = settings_for(a, false);
    std::map<int64_t, const CkaMatrix*> by_epoch;
    int gif_width = 0, gif_height = 0;
    for (const RunCheckpoint& c : checkpoints) {
      LoadedModel model = nets.load(c.file);
      ModelFeatureSource features = nets.features(model);
      CkaMatrix m = std::move(compare_layers(features, &final_features, settings, a.batch_size, a.examples).front());
      const std::string title = fmt::format("{}: epoch {} vs final (epoch {})", describe_settings(m), c.epoch,
                                            checkpoints.back().epoch);
      record(std::move(m), fmt::format("epoch_{:04d}", c.epoch), title);
      by_epoch[c.epoch] = kept.back().get();
    }
    // The animation: one labelled frame per checkpoint, all of the first frame's size.
    std::unique_ptr<GifWriter> gif;
    for (const auto& [epoch, m] : by_epoch) {
      const HeatmapSpec spec =
          heatmap_of(*m, fmt::format("epoch {} vs final (epoch {})", epoch, checkpoints.back().epoch));
      const Canvas frame = gif ? heatmap_canvas(spec, gif_width, gif_height) : heatmap_canvas(spec);
      if (!gif) {
        gif_width = frame.width();
        gif_height = frame.height();
        gif = std::make_unique<GifWriter>(a.output / "evolution.gif", gif_width, gif_height, 60);
      }
      gif->add_frame(frame, epoch == checkpoints.back().epoch ? std::optional<int>(200) : std::nullopt);
    }
    gif->finish();
    std::vector<int64_t> epochs;
    for (const auto& [epoch, m] : by_epoch) epochs.push_back(epoch);
    std::vector<HeatmapSpec> panels;
    for (int64_t e : grid_epochs(epochs)) panels.push_back(heatmap_of(*by_epoch[e], fmt::format("epoch {}", e)));
    plot_heatmap_grid(panels, 3, fmt::format("{} against the final network", describe_settings(*by_epoch.begin()->second)),
                      a.output / "evolution_grid.png");
    fmt::print("animation: {}\ngrid: {}\n", (a.output / "evolution.gif").string(), (a.output / "evolution_grid.png").string());
  } else if (a.command == "invariance" || a.command == "files") {
    std::unique_ptr<Networks> nets;
    std::unique_ptr<LoadedModel> model;
    std::unique_ptr<FeatureSource> source, versus;
    if (a.command == "invariance" && !a.inputs.empty() && fs::path(a.inputs[0]).extension() == ".safetensors") {
      CONVLAB_CHECK(a.inputs.size() == 1, "invariance takes one checkpoint or a list of .npy files");
      Args small = a;
      if (small.examples == 0) small.examples = 512;
      nets = std::make_unique<Networks>(small);
      model = std::make_unique<LoadedModel>(nets->load(a.inputs[0]));
      source = std::make_unique<ModelFeatureSource>(nets->features(*model));
    } else {
      CONVLAB_CHECK(!a.inputs.empty(), "{} needs .npy feature files", a.command);
      source = std::make_unique<NpyFeatureSource>(std::vector<fs::path>(a.inputs.begin(), a.inputs.end()));
      if (!a.versus.empty())
        versus = std::make_unique<NpyFeatureSource>(std::vector<fs::path>(a.versus.begin(), a.versus.end()));
    }
    if (a.command == "files") {
      for (CkaMatrix& m : compare_layers(*source, versus.get(), settings_for(a, false), a.batch_size, a.examples)) {
        const std::string title = fmt::format("{}: {} vs {}", describe_settings(m), m.row_source, m.col_source);
        const std::string name = "files_" + kernel_tag(m.options);
        record(std::move(m), name, title);
      }
    } else {
      const int64_t n = std::min<int64_t>(a.examples > 0 ? a.examples : 512, source->examples());
      const std::vector<Tensor> layers = source->batch(0, n);
      for (const cka::Options& o : settings_for(a, true)) {
        const auto rows = invariance_checks(layers, source->layer_names(), o, 1);
        fmt::print("{} CKA of each layer with a transformed copy ({} examples; 1 = invariant):\n", kernel_tag(o), n);
        fmt::print("  {:<14} {:>8} {:>12} {:>10} {:>12} {:>16}\n", "layer", "features", "permutation", "scaling",
                   "orthogonal", "diag. stretch");
        std::string csv = "layer,features,permutation,scaling,orthogonal,invertible_diagonal\n";
        for (const InvarianceRow& r : rows) {
          fmt::print("  {:<14.14} {:>8} {:>12.2e} {:>10.2e} {:>12.2e} {:>16.4f}\n", r.layer, r.features,
                     1 - r.permutation, 1 - r.scaling, 1 - r.orthogonal, 1 - r.invertible);
          csv += fmt::format("{},{},{:.12f},{:.12f},{:.12f},{:.12f}\n", r.layer, r.features, r.permutation, r.scaling,
                             r.orthogonal, r.invertible);
        }
        fmt::print("  (columns: 1 - CKA; the first three stay near 0, the stretch does not)\n");
        write_file_atomically(a.output / fmt::format("invariance_{}.csv", kernel_tag(o)),
                              [&](std::ostream& out) { out << csv; });
      }
    }
  } else {
    CONVLAB_FAIL("unknown command '{}' (self, pair, evolution, invariance, files; see --help)", a.command);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  write_summary(a.output / "summary.json", command_line, a.inputs, records, seconds);
  fmt::print("wrote {} in {:.1f} s\n", a.output.string(), seconds);
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "convlab-analyze: error: {}\n", e.what());
  return 1;
}
