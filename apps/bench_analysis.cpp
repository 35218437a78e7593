#include "apps/bench_analysis.h"
#include "apps/bench_features.h"

#include <cblas.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <omp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "framework/analysis/compare.h"
#include "framework/analysis/feature_source.h"
#include "framework/analysis/model_loader.h"
#include "framework/backend/cuda_device.h"
#include "framework/core/version.h"
#include "framework/data/cifar10.h"
#include "framework/io/atomic_file.h"
#include "framework/io/cli_numbers.h"
#include "framework/procrustes/procrustes.h"
#include "framework/train/device_dataset.h"
#include "models/registry.h"

#if CONVLAB_WITH_CUDA
#include "framework/backend/cuda/cuda_context.h"
#endif

namespace convlab::bench {

const char* const kAnalysisUsage = R"(usage: convlab-bench --analysis [options]

Times representation analysis between the layers of networks: compare_layers with CKA, RSA
and Procrustes, each layer of network A against each of A's (self) or of a second network B's
(pair), as convlab-analyze runs them. Each case is run --warmup times untimed, then
--repeats times; its time is the median, everything from the first batch to the matrices
(and the bootstrap) included.

features (synthetic unless --features or --checkpoint):
  --widths P1,P2,...      synthetic: features per layer (default All-CNN-C depth 1's ten
                          layers: 98304,98304,24576,49152,49152,12288,6912,6912,360,10)
  --examples N            examples (default 10000; --features: all the files' rows)
  --seed S                synthetic: the features' seed (default 0)
  --features FILES|DIR    .npy files, one (n, p) per layer (a folder: its *.npy in name
                          order), read batch by batch as convlab-analyze files reads them
                          (reading included in the time; on a GPU each batch is copied
                          there, also timed); pair: the same files as network B
  --checkpoint CKPT       a trained network's features over CIFAR-10 test images,
                          extracted batch by batch as convlab-analyze self does (extraction
                          included in the time); pair: a second copy of the network
  --data PATH             CIFAR-10 for --checkpoint (without it: random images of the same
                          shape, and the output says so)

what to time (every combination is a case):
  --measure LIST          comma-separated; + joins measures timed in one comparison; any
                          of convlab-analyze's measures, e.g. mutual_knn+svcca (default:
                          cka,rsa,procrustes,cka+rsa)
  --kernel LIST           CKA's kernels, comma-separated; linear+rbf: both in one comparison
                          (default: linear,rbf for cka alone, linear where cka is joined
                          with another measure)
  --compare LIST          self, pair or self,pair (default self,pair)
  --bootstrap LIST        bootstrap replicates, comma-separated (default 0,200)
  --batch-size K          examples per minibatch (default 1000)
  --precision tf32|fp32   the Gram products on a GPU (default: each measure's own, TF32 for
                          CKA and fp32 for RSA and Procrustes); the CPU computes in fp32
                          (fp64 for float64 files); the column says what ran
  --device auto|cpu|cuda  where the features and the measures are (default auto)
  --repeats N             timed runs per case (default 3)
  --warmup N              untimed runs per case before them (default 1)
  --budget SECONDS        start no case after this many seconds from the start; the cases
                          left are listed as skipped (default: no limit)
  --json FILE             every case as JSON, rewritten (atomically) after each case
  -h, --help              this text

Synthetic features are reproducible (a counter-based hash of seed, network, layer, example
and feature): each layer is relu(Z M + 0.5 e + 0.2) of one latent Z (n x 16) that both
networks share, a mix M and noise e of its own. They are generated once, before any timing,
and stay in memory (on a GPU, in device memory); n x sum(widths) x 4 bytes per network, twice
with pair cases: 13.8 GB per network for the default 10000 examples, 2.8 GB for 2000.

Per case: seconds per comparison; images/s (examples / seconds); the Gram products'
throughput, 2 x their multiply-adds per second, and its fraction of the peak; the peak memory.
Multiply-adds, per batch of k examples and layer of p features, counted as the products run
them: k^2 p on a GPU (GEMM), k (k + 1) / 2 p on the CPU (SYRK, one triangle); once per layer
for CKA, whatever its kernels, once more for RSA; Procrustes: that per layer in the Gram form
(p > k) plus each pair's factor products (k r1 r2 + min(r1, r2)^2 max(r1, r2)). Not counted:
eigendecompositions, sorts, centring, the network's forward pass: approximate. Peak: on CUDA
the H100 SXM / H200 data sheet's dense TF32 494.7 or FP32 66.9 TFLOP/s, by each measure's
precision (other cards: n/a); on the CPU what the same BLAS reaches on one 2048^3 sgemm
(measured before the cases, best of 3). Memory: CUDA, the largest the device allocator's reserved
bytes were after any run; CPU, the process's peak resident set. Both include the features.

Cost on a 2-core CPU (docs/RESULTS.md): over the default widths, 2000 examples in batches of
500, linear CKA takes about 4.5 s a comparison self and 8 s pair (RBF and RSA about the same,
Procrustes about three times more), plus 1-4 s to generate each network's 2.8 GB; so
`--examples 2000 --batch-size 500 --measure cka --kernel linear --compare self --bootstrap 0`
takes about 20 s, the same with both comparisons and both bootstraps about 110 s, and every
default case at 1000 examples about 7.5 minutes. Choose cases (--measure, --kernel,
--compare, --bootstrap) and --repeats 1 --warmup 0 for quick runs.
)";

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

const std::vector<int64_t> kAllCnnCDepth1Widths = {98304, 98304, 24576, 49152, 49152, 12288, 6912, 6912, 360, 10};

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> out;
  std::stringstream stream(text);
  for (std::string item; std::getline(stream, item, separator);) out.push_back(item);
  if (!text.empty() && text.back() == separator) out.emplace_back();
  return out;
}

std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? separator : "") + items[i];
  return out;
}

std::string bytes_text(double bytes) {
  if (bytes >= 1e9) return fmt::format("{:.2f} GB", bytes / 1e9);
  if (bytes >= 1e6) return fmt::format("{:.0f} MB", bytes / 1e6);
  return fmt::format("{:.0f} kB", bytes / 1e3);
}

// ---- the command line ----

struct Args {
  std::string device = "auto";
  std::vector<int64_t> widths = kAllCnnCDepth1Widths;
  bool widths_given = false;
  int64_t examples = 0;  // 0: 10000, or all the files' rows
  uint64_t seed = 0;
  std::vector<fs::path> features;
  std::string checkpoint;
  std::optional<fs::path> data;
  std::vector<std::string> measures;  // the --measure items; empty: the default cases
  std::vector<std::string> kernels;   // the --kernel items; empty: the default
  bool self = true, pair = true;
  std::vector<int64_t> bootstraps = {0, 200};
  int64_t batch_size = 1000;
  std::optional<cka::GramPrecision> precision;
  int repeats = 3;
  int warmup = 1;
  double budget = 0;  // seconds; 0: none
  fs::path json;
};

// --features takes every argument up to the next option: `--features dir/*.npy` as the shell
// expands it. A folder stands for its .npy files in name order.
std::vector<fs::path> feature_files(const std::vector<std::string>& given) {
  std::vector<fs::path> files;
  for (const std::string& g : given) {
    const fs::path path(g);
    if (fs::is_directory(path)) {
      std::vector<fs::path> found;
      for (const auto& entry : fs::directory_iterator(path))
        if (entry.is_regular_file() && entry.path().extension() == ".npy") found.push_back(entry.path());
      std::sort(found.begin(), found.end());
      CONVLAB_CHECK(!found.empty(), "--features {}: the folder holds no .npy file", g);
      files.insert(files.end(), found.begin(), found.end());
    } else {
      CONVLAB_CHECK(fs::is_regular_file(path), "--features {}: no such file or folder", g);
      files.push_back(path);
    }
  }
  return files;
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    auto value = [&]() -> std::string {
      CONVLAB_CHECK(i + 1 < argc, "{} needs a value (see convlab-bench --analysis --help)", key);
      return argv[++i];
    };
    if (key == "--analysis") continue;
    if (key == "-h" || key == "--help") {
      fmt::print("{}", kAnalysisUsage);
      std::exit(0);
    } else if (key == "--device") {
      a.device = value();
    } else if (key == "--widths") {
      const std::string text = value();
      a.widths.clear();
      for (const std::string& w : split(text, ',')) a.widths.push_back(parse_int_flag(key, w, 1, 100'000'000));
      a.widths_given = true;
    } else if (key == "--examples") {
      a.examples = parse_int_flag(key, value(), 1, 100'000'000);
    } else if (key == "--seed") {
      a.seed = static_cast<uint64_t>(parse_int_flag(key, value(), 0, INT64_MAX));
    } else if (key == "--features") {
      std::vector<std::string> given;
      while (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) given.push_back(argv[++i]);
      CONVLAB_CHECK(!given.empty(), "--features needs .npy files or a folder of them");
      a.features = feature_files(given);
    } else if (key == "--checkpoint") {
      a.checkpoint = value();
    } else if (key == "--data") {
      a.data = value();
    } else if (key == "--measure") {
      for (const std::string& item : split(value(), ',')) {
        CONVLAB_CHECK(!item.empty(), "--measure: an empty item in '{}'", argv[i]);
        a.measures.push_back(item);
      }
    } else if (key == "--kernel") {
      for (const std::string& item : split(value(), ',')) {
        CONVLAB_CHECK(!item.empty(), "--kernel: an empty item in '{}'", argv[i]);
        a.kernels.push_back(item);
      }
    } else if (key == "--compare") {
      a.self = a.pair = false;
      for (const std::string& item : split(value(), ',')) {
        CONVLAB_CHECK(item == "self" || item == "pair", "--compare takes self, pair or self,pair, not '{}'", item);
        (item == "self" ? a.self : a.pair) = true;
      }
    } else if (key == "--bootstrap") {
      a.bootstraps.clear();
      for (const std::string& item : split(value(), ',')) {
        const int64_t b = parse_int_flag(key, item, 0, 1'000'000);
        CONVLAB_CHECK(b != 1, "--bootstrap needs at least 2 replicates (or 0 for none), got 1");
        if (std::find(a.bootstraps.begin(), a.bootstraps.end(), b) == a.bootstraps.end()) a.bootstraps.push_back(b);
      }
    } else if (key == "--batch-size") {
      a.batch_size = parse_int_flag(key, value(), 1, 1'000'000);
    } else if (key == "--precision") {
      const std::string p = value();
      CONVLAB_CHECK(p == "tf32" || p == "fp32", "--precision is tf32 or fp32, not '{}'", p);
      a.precision = p == "tf32" ? cka::GramPrecision::tf32 : cka::GramPrecision::fp32;
    } else if (key == "--repeats") {
      a.repeats = static_cast<int>(parse_int_flag(key, value(), 1, 1000));
    } else if (key == "--warmup") {
      a.warmup = static_cast<int>(parse_int_flag(key, value(), 0, 1000));
    } else if (key == "--budget") {
      a.budget = parse_number_flag(key, value(), 0, 1e7, /*min_exclusive=*/true);
    } else if (key == "--json") {
      a.json = value();
      CONVLAB_CHECK(!a.json.empty() && a.json.has_filename(), "--json needs a file name");
    } else {
      CONVLAB_FAIL("unknown option {} for --analysis (see convlab-bench --analysis --help)", key);
    }
  }
  CONVLAB_CHECK(a.device == "auto" || a.device == "cpu" || a.device == "cuda",
                "--device is auto, cpu or cuda, not '{}'", a.device);
  CONVLAB_CHECK(a.features.empty() || a.checkpoint.empty(), "--features and --checkpoint both name the features: give one");
  CONVLAB_CHECK(!a.widths_given || (a.features.empty() && a.checkpoint.empty()),
                "--widths belongs to synthetic features; --features and --checkpoint have widths of their own");
  CONVLAB_CHECK(!a.data || !a.checkpoint.empty(), "--data belongs to --checkpoint");
  CONVLAB_CHECK(a.self || a.pair, "--compare names no comparison");
  return a;
}

// ---- the cases ----

struct Case {
  std::vector<Measure> measures;
  std::vector<cka::Kernel> kernels;  // CKA's (empty without CKA)
  std::string name;                  // "cka-linear", "cka-linear+rsa", "procrustes"
  bool self = true;
  int64_t bootstrap = 0;
};

std::vector<Measure> parse_measure_item(const std::string& item) {
  std::vector<Measure> out;
  for (const std::string& name : split(item, '+')) {
    const std::optional<Measure> named = measure_named(name);
    CONVLAB_CHECK(named.has_value(), "--measure takes {} (comma-separated cases, + joining measures in one case), "
                  "not '{}'", measure_names(), name);
    const Measure m = *named;
    CONVLAB_CHECK(std::find(out.begin(), out.end(), m) == out.end(), "--measure: '{}' names {} twice", item, name);
    out.push_back(m);
  }
  return out;
}

std::vector<cka::Kernel> parse_kernel_item(const std::string& item) {
  std::vector<cka::Kernel> out;
  for (const std::string& name : split(item, '+')) {
    CONVLAB_CHECK(name == "linear" || name == "rbf",
                  "--kernel takes linear and rbf (comma-separated cases, linear+rbf: both in one case), not '{}'", name);
    const cka::Kernel k = name == "linear" ? cka::Kernel::linear() : cka::Kernel::rbf();
    for (const cka::Kernel& o : out) CONVLAB_CHECK(o.kind != k.kind, "--kernel: '{}' names {} twice", item, name);
    out.push_back(k);
  }
  return out;
}

std::string kernel_label(const std::vector<cka::Kernel>& kernels) {
  std::vector<std::string> names;
  for (const cka::Kernel& k : kernels) names.push_back(k.kind == cka::KernelKind::linear ? "linear" : "rbf");
  return join(names, "-");
}

std::vector<Case> expand_cases(const Args& a) {
  const std::vector<std::string> items =
      a.measures.empty() ? std::vector<std::string>{"cka", "rsa", "procrustes", "cka+rsa"} : a.measures;
  std::vector<Case> cases;
  for (const std::string& item : items) {
    const std::vector<Measure> measures = parse_measure_item(item);
    const bool has_cka = std::find(measures.begin(), measures.end(), Measure::cka) != measures.end();
    std::vector<std::string> kernel_items = {""};
    if (has_cka) {
      if (!a.kernels.empty())
        kernel_items = a.kernels;
      else if (measures.size() == 1)
        kernel_items = {"linear", "rbf"};
      else
        kernel_items = {"linear"};
    }
    for (const std::string& kernel_item : kernel_items) {
      Case base;
      base.measures = measures;
      if (has_cka) base.kernels = parse_kernel_item(kernel_item);
      std::vector<std::string> parts;
      for (Measure m : measures)
        parts.push_back(m == Measure::cka ? "cka-" + kernel_label(base.kernels) : measure_name(m));
      base.name = join(parts, "+");
      for (bool self : {true, false}) {
        if ((self && !a.self) || (!self && !a.pair)) continue;
        for (int64_t b : a.bootstraps) {
          Case c = base;
          c.self = self;
          c.bootstrap = b;
          cases.push_back(c);
        }
      }
    }
  }
  return cases;
}

CompareSettings settings_for(const Case& c, const Args& a, int64_t examples) {
  CompareSettings s;
  s.measures = c.measures;
  if (!c.kernels.empty()) s.kernels = c.kernels;
  s.estimator = cka::Estimator::debiased;
  s.batch_size = a.batch_size;
  s.examples = examples;
  s.last_batch = LastBatch::weight;
  s.bootstrap = c.bootstrap;
  s.seed = 0;
  s.precision = a.precision;
  return s;
}

// ---- what the hardware reaches, and what the run holds ----

// Dense peaks in TFLOP/s (0: unknown) and where they come from.
struct Peak {
  double fp32 = 0, tf32 = 0;
  std::string source;
};

// One large sgemm of the BLAS convlab uses, best of 3 after one warm-up.
Peak cpu_peak() {
  constexpr int n = 2048;
  std::vector<float> a(static_cast<size_t>(n) * n), b(a.size()), c(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = static_cast<float>(i % 7) * 0.25f - 0.75f;
    b[i] = static_cast<float>(i % 5) * 0.5f - 1.0f;
  }
  double best = 1e30;
  for (int r = 0; r < 4; ++r) {
    const auto start = Clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
    if (r > 0) best = std::min(best, seconds_since(start));
  }
  Peak p;
  p.fp32 = p.tf32 = 2.0 * n * n * static_cast<double>(n) / best / 1e12;
  p.source = fmt::format("CPU: one {0} x {0} x {0} cblas_sgemm of this BLAS on {1} threads, best of 3", n,
                         omp_get_max_threads());
  return p;
}

// By the card's name: H100 SXM (the HBM3 cards) and H200, dense, without sparsity.
Peak cuda_peak(const std::string& name) {
  Peak p;
  const bool h100_sxm = name.find("H100") != std::string::npos &&
                        (name.find("HBM3") != std::string::npos || name.find("SXM") != std::string::npos);
  if (h100_sxm || name.find("H200") != std::string::npos) {
    p.fp32 = 66.9;
    p.tf32 = 494.7;
    p.source = "CUDA: the H100 SXM / H200 data sheet, dense TF32 494.7 and FP32 66.9 TFLOP/s";
  } else {
    p.source = fmt::format("CUDA: no peak known for {} (n/a)", name);
  }
  return p;
}

size_t host_peak_rss() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<size_t>(usage.ru_maxrss) * 1024;  // kB on Linux
}

// CUDA: the allocator's reserved bytes (in use and cached), the largest of its samples; CPU:
// the process's peak resident set.
size_t memory_now(Device device) {
#if CONVLAB_WITH_CUDA
  if (device.is_cuda()) return cuda_context(device).reserved_bytes();
#endif
  return host_peak_rss();
}

double available_host_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  double kb = 0;
  while (meminfo >> key) {
    if (key == "MemAvailable:") {
      meminfo >> kb;
      return kb * 1024;
    }
    meminfo.ignore(1 << 10, '\n');
  }
  return 0;  // unknown
}

// ---- the multiply-adds of the Gram products ----

struct Madds {
  double cka = 0, rsa = 0, procrustes = 0;
  double total() const { return cka + rsa + procrustes; }
};

// The batches compare_layers runs: n examples in batches of k, a last one below the
// measures' minimum left out.
std::vector<int64_t> batch_sizes(int64_t n, const CompareSettings& s) {
  int64_t smallest = 1;
  for (Measure m : s.measures) smallest = std::max(smallest, batch_limits(m, s.estimator).minimum);
  std::vector<int64_t> out;
  for (int64_t first = 0; first < n; first += s.batch_size) {
    const int64_t count = std::min(s.batch_size, n - first);
    if (!out.empty() && count < smallest) break;
    out.push_back(count);
  }
  return out;
}

// A GPU forms each Gram with a full GEMM (k^2 p multiply-adds); the CPU with SYRK, which
// computes one triangle (k (k + 1) / 2 p).
Madds gram_madds(const Case& c, const std::vector<int64_t>& widths, int64_t n, const CompareSettings& s, bool gpu) {
  Madds m;
  const double networks = c.self ? 1 : 2;
  double width_sum = 0;
  for (int64_t p : widths) width_sum += static_cast<double>(p);
  for (int64_t k : batch_sizes(n, s)) {
    const double kk = static_cast<double>(k);
    const double gram = gpu ? kk * kk : kk * (kk + 1) / 2;  // per feature
    for (Measure measure : c.measures) {
      if (measure == Measure::cka) m.cka += networks * gram * width_sum;
      if (measure == Measure::rsa) m.rsa += networks * gram * width_sum;
      if (measure != Measure::procrustes) continue;
      std::vector<double> r;  // each layer's factor width
      for (int64_t p : widths) {
        const bool gram_form = procrustes::form_for(k, p) == procrustes::Form::gram;
        if (gram_form) m.procrustes += networks * gram * static_cast<double>(p);
        r.push_back(static_cast<double>(gram_form ? k : p));
      }
      auto pair_cost = [&](double r1, double r2) { return kk * r1 * r2 + std::min(r1, r2) * std::min(r1, r2) * std::max(r1, r2); };
      for (size_t i = 0; i < r.size(); ++i)
        for (size_t j = c.self ? i + 1 : 0; j < r.size(); ++j) m.procrustes += pair_cost(r[i], r[j]);
    }
  }
  return m;
}

// The precision of each measure's Gram products, as the case runs them.
std::string precision_text(const Case& c, const CompareSettings& s, bool gpu) {
  if (!gpu) return "cpu fp32";
  std::vector<std::string> parts;
  for (Measure m : c.measures) {
    const std::string p = cka::precision_name(precision_for(m, s));
    if (std::find(parts.begin(), parts.end(), p) == parts.end()) parts.push_back(p);
  }
  return join(parts, "/");
}

// The peak the case's products could reach: each measure's multiply-adds at its precision's
// peak (TF32 or FP32), so a case that mixes them is measured against the time both would take.
double case_peak(const Madds& m, const Case& c, const CompareSettings& s, const Peak& peak, bool gpu) {
  double time = 0;
  for (Measure measure : c.measures) {
    if (host_only(measure)) continue;  // float64 on the host: no Gram-product peak to compare with
    const double madds = measure == Measure::cka ? m.cka : measure == Measure::rsa ? m.rsa : m.procrustes;
    const double rate = !gpu || precision_for(measure, s) == cka::GramPrecision::fp32 ? peak.fp32 : peak.tf32;
    if (rate <= 0) return 0;
    time += 2 * madds / (rate * 1e12);
  }
  return time > 0 ? 2 * m.total() / time / 1e12 : 0;
}

// ---- one case ----

struct Outcome {
  Case c;
  std::string precision;
  std::vector<double> runs;  // seconds of the timed runs
  double warmup = 0, seconds = 0;
  int64_t examples = 0, batches = 0;
  Madds madds;
  double tflops = 0, peak_tflops = 0;
  size_t memory = 0;
  nlohmann::json values;  // each matrix's mean, a check that the features are not trivial
  std::string skipped;    // why the case did not run, if it did not
};

// Standard error sent to /dev/null while it lives: a case's warnings (a batch below a measure's
// advised size) are printed by its untimed run, not again by every timed one. Errors are
// exceptions, reported after the stream is back.
class QuietStderr {
 public:
  QuietStderr() {
    std::fflush(stderr);
    saved_ = dup(STDERR_FILENO);
    const int null = open("/dev/null", O_WRONLY);
    if (saved_ >= 0 && null >= 0) dup2(null, STDERR_FILENO);
    if (null >= 0) close(null);
  }
  ~QuietStderr() {
    std::fflush(stderr);
    if (saved_ >= 0) {
      dup2(saved_, STDERR_FILENO);
      close(saved_);
    }
  }
  QuietStderr(const QuietStderr&) = delete;
  QuietStderr& operator=(const QuietStderr&) = delete;

 private:
  int saved_ = -1;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

std::string matrix_name(const SimilarityMatrix& m) {
  if (m.measure != Measure::cka) return measure_name(m.measure);
  return m.options.kernel.kind == cka::KernelKind::linear ? "cka-linear" : "cka-rbf";
}

nlohmann::json case_json(const Outcome& o, const std::string& device) {
  nlohmann::json j;
  j["case"] = o.c.name;
  std::vector<std::string> measures, kernels;
  for (Measure m : o.c.measures) measures.push_back(measure_name(m));
  for (const cka::Kernel& k : o.c.kernels) kernels.push_back(k.kind == cka::KernelKind::linear ? "linear" : "rbf");
  j["measures"] = measures;
  j["kernels"] = kernels;
  j["comparison"] = o.c.self ? "self" : "pair";
  j["bootstrap"] = o.c.bootstrap;
  j["device"] = device;
  j["precision"] = o.precision;
  if (!o.skipped.empty()) {
    j["skipped"] = o.skipped;
    return j;
  }
  j["seconds"] = o.seconds;
  j["runs_seconds"] = o.runs;
  j["warmup_seconds"] = o.warmup;
  j["examples"] = o.examples;
  j["batches"] = o.batches;
  j["images_per_second"] = static_cast<double>(o.examples) / o.seconds;
  j["gram_madds"] = {{"cka", o.madds.cka}, {"rsa", o.madds.rsa}, {"procrustes", o.madds.procrustes},
                     {"total", o.madds.total()}};
  j["gram_tflops"] = o.tflops;
  j["peak_tflops"] = o.peak_tflops > 0 ? nlohmann::json(o.peak_tflops) : nlohmann::json(nullptr);
  j["fraction_of_peak"] = o.peak_tflops > 0 ? nlohmann::json(o.tflops / o.peak_tflops) : nlohmann::json(nullptr);
  j["peak_memory_bytes"] = o.memory;
  j["mean_values"] = o.values;
  return j;
}

void print_header() {
  fmt::print("\n{:<22} {:<5} {:>9} {:<10} {:>12} {:>10} {:>12} {:>8} {:>11}\n", "case", "cmp", "bootstrap", "precision",
             "s/compare", "images/s", "Gram TFLOP/s", "of peak", "peak mem");
}

void print_row(const Outcome& o) {
  fmt::print("{:<22} {:<5} {:>9} {:<10} ", o.c.name, o.c.self ? "self" : "pair", o.c.bootstrap, o.precision);
  if (!o.skipped.empty()) {
    fmt::print("skipped: {}\n", o.skipped);
    return;
  }
  const std::string of_peak = o.peak_tflops > 0 ? fmt::format("{:.1f} %", 100 * o.tflops / o.peak_tflops) : "n/a";
  fmt::print("{:>12.4f} {:>10.0f} {:>12.3f} {:>8} {:>11}\n", o.seconds, static_cast<double>(o.examples) / o.seconds,
             o.tflops, of_peak, bytes_text(static_cast<double>(o.memory)));
}

}  // namespace

int run_analysis_benchmark(int argc, char** argv) {
  const auto program_start = Clock::now();
  const Args args = parse(argc, argv);
  const std::vector<Case> cases = expand_cases(args);
  std::string command_line;
  for (int i = 0; i < argc; ++i) command_line += (i ? " " : "") + std::string(argv[i]);

  const DeviceHandle handle(args.device);
  const Device device = handle.device();
  const bool gpu = device.is_cuda();
  fmt::print("convlab {}: device {}\n", version(), handle.choice());
  if (args.precision && !gpu)
    fmt::print("note: --precision sets the GPU's Gram products; the CPU computes in fp32 whatever it says\n");

  // The features: network A, and B when a pair case asks for it.
  const bool need_b = std::any_of(cases.begin(), cases.end(), [](const Case& c) { return !c.self; });
  std::unique_ptr<FeatureSource> a_owned, b_owned;   // what the comparisons read
  std::unique_ptr<FeatureSource> a_files, b_files;   // --features on a GPU: the files behind them
  DeviceImageSet images;                             // --checkpoint
  std::vector<LoadedModel> models;                   // --checkpoint: A's network, then B's
  std::string source_kind, source_line;
  std::vector<int64_t> widths;
  const auto setup_start = Clock::now();
  if (!args.features.empty()) {
    source_kind = "npy";
    auto open = [&]() -> std::unique_ptr<FeatureSource> { return std::make_unique<NpyFeatureSource>(args.features); };
    if (gpu) {
      a_files = open();
      a_owned = std::make_unique<CopiedToDevice>(*a_files, device);
      if (need_b) {
        b_files = open();
        b_owned = std::make_unique<CopiedToDevice>(*b_files, device);
      }
    } else {
      a_owned = open();
      if (need_b) b_owned = open();
    }
    for (const Tensor& t : a_owned->batch(0, 1)) widths.push_back(t.dim(1));
    source_line = fmt::format("features: {} .npy files, {} rows ({}), read batch by batch inside the timed "
                              "comparison{}; pair: the same files as network B",
                              args.features.size(), a_owned->examples(), a_owned->description(),
                              gpu ? " and copied to the GPU" : "");
  } else if (!args.checkpoint.empty()) {
    source_kind = "checkpoint";
    const int64_t wanted = args.examples > 0 ? args.examples : 10000;
    std::string images_line;
    if (args.data) {
      const Cifar10 cifar = load_cifar10(find_cifar10(args.data), default_cache_dir());
      const int64_t n = std::min<int64_t>(wanted, cifar.test.size());
      images = upload(cifar.test, device, choose_examples(cifar.test.size(), n, 0));
      images_line = fmt::format("{} CIFAR-10 test images of {}", images.size(), cifar.source_description);
    } else {
      images = upload(random_images(wanted, args.seed), device);
      images_line = fmt::format("{} random 32 x 32 RGB images (no --data given: not CIFAR-10; the time of a "
                                "network's forward pass does not depend on the pixels)", images.size());
    }
    for (int n = 0; n < (need_b ? 2 : 1); ++n)
      models.push_back(load_model(args.checkpoint, models::make_model, device, models::state_size));
    a_owned = std::make_unique<ModelFeatureSource>(*models[0].model, images,
                                                   fmt::format("{} (network A)", args.checkpoint));
    if (need_b)
      b_owned = std::make_unique<ModelFeatureSource>(*models[1].model, images,
                                                     fmt::format("{} (network B, a second copy)", args.checkpoint));
    for (const Tensor& t : a_owned->device_batch(0, 1)) widths.push_back(t.dim(1));
    source_line = fmt::format("features: {} ({}), over {}, extracted batch by batch inside the timed comparison; "
                              "pair: a second copy of the network", args.checkpoint,
                              models[0].model->description(), images_line);
  } else {
    source_kind = "synthetic";
    widths = args.widths;
    const int64_t n = args.examples > 0 ? args.examples : 10000;
    double width_sum = 0;
    for (int64_t p : widths) width_sum += static_cast<double>(p);
    const double per_network = static_cast<double>(n) * width_sum * sizeof(float);
    const double needed = per_network * (need_b ? 2 : 1);
    if (device.is_cpu()) {
      const double available = available_host_bytes();
      CONVLAB_CHECK(available <= 0 || needed <= 0.9 * available,
                    "the synthetic features of {} examples need {} ({} per network{}), but {} of memory are "
                    "available: use fewer --examples or --widths{}",
                    n, bytes_text(needed), bytes_text(per_network), need_b ? ", two networks for the pair cases" : "",
                    bytes_text(available), need_b ? ", or --compare self" : "");
    }
    a_owned = std::make_unique<SyntheticFeatures>(widths, n, args.seed, 0, device);
    if (need_b) b_owned = std::make_unique<SyntheticFeatures>(widths, n, args.seed, 1, device);
    source_line = fmt::format("features: synthetic, {} layers ({} features in all), {} examples, seed {}; {} per "
                              "network{}, resident on {}, generated in {:.1f} s (not timed)",
                              widths.size(), static_cast<int64_t>(width_sum), n, args.seed, bytes_text(per_network),
                              need_b ? " (A, and B for the pair cases)" : "", device.name(), seconds_since(setup_start));
  }
  fmt::print("{}\n", source_line);
  std::vector<std::string> width_text;
  for (int64_t p : widths) width_text.push_back(std::to_string(p));
  fmt::print("widths: {}\n", join(width_text, ", "));

  const int64_t n = args.examples > 0 ? std::min(args.examples, a_owned->examples()) : a_owned->examples();
  for (const Case& c : cases)  // refused now rather than after the cases before it
    CONVLAB_CHECK(c.bootstrap == 0 || batch_sizes(n, settings_for(c, args, n)).size() >= 2,
                  "the bootstrap resamples batches and needs at least 2, but {} examples in batches of {} make one: "
                  "use a smaller --batch-size, or --bootstrap 0", n, args.batch_size);
  const Peak peak = gpu ? cuda_peak(device.name()) : cpu_peak();
  fmt::print("batches of {}; per case {} untimed run(s), then {} timed (the median counts); peak: {}{}\n",
             args.batch_size, args.warmup, args.repeats, peak.source,
             gpu || peak.fp32 <= 0 ? "" : fmt::format(": {:.1f} GFLOP/s", peak.fp32 * 1e3));
  fmt::print("memory: {}\n", gpu ? "the CUDA allocator's reserved bytes (in use and cached), the largest after any run"
                                 : "the process's peak resident set (getrusage), features included");

  nlohmann::json doc;
  doc["convlab_version"] = version();
  doc["command"] = command_line;
  doc["device"] = device.name();
  doc["device_choice"] = handle.choice();
  doc["features"] = {{"source", source_kind}, {"description", source_line}, {"layers", a_owned->layer_names()},
                     {"widths", widths}, {"examples", n}};
  doc["batch_size"] = args.batch_size;
  doc["repeats"] = args.repeats;
  doc["warmup"] = args.warmup;
  doc["estimator"] = "debiased";
  doc["peak"] = {{"source", peak.source},
                 {"fp32_tflops", peak.fp32 > 0 ? nlohmann::json(peak.fp32) : nlohmann::json(nullptr)},
                 {"tf32_tflops", peak.tf32 > 0 ? nlohmann::json(peak.tf32) : nlohmann::json(nullptr)}};
  doc["gram_madds_note"] =
      "approximate: per batch of k and layer of p features, k^2 p on a GPU (GEMM) or k (k + 1) / 2 p on the CPU "
      "(SYRK) for CKA (once for all kernels) and again for RSA; Procrustes that per Gram-form layer plus each pair's "
      "factor products; eigendecompositions, sorts, centring and the network's forward pass not counted";
  doc["cases"] = nlohmann::json::array();
  doc["complete"] = false;
  auto write_json = [&] {
    if (args.json.empty()) return;
    if (args.json.has_parent_path()) fs::create_directories(args.json.parent_path());
    const std::string text = doc.dump(2) + "\n";
    write_file_atomically(args.json, [&](std::ostream& out) { out << text; });
  };
  write_json();  // an unwritable --json fails now, not after the timing

  size_t memory_peak = memory_now(device);
  print_header();
  std::fflush(stdout);
  for (const Case& c : cases) {
    Outcome o;
    o.c = c;
    const CompareSettings s = settings_for(c, args, n);
    o.precision = precision_text(c, s, gpu);
    if (args.budget > 0 && seconds_since(program_start) >= args.budget) {
      o.skipped = fmt::format("--budget {} s spent", args.budget);
    } else {
      FeatureSource* b = c.self ? nullptr : b_owned.get();
      auto once = [&](bool keep) {
        const auto start = Clock::now();
        std::vector<SimilarityMatrix> matrices = compare_layers(*a_owned, b, s);
        device.context().synchronize();
        const double seconds = seconds_since(start);
        memory_peak = std::max(memory_peak, memory_now(device));
        if (keep) {
          o.examples = matrices.front().examples;
          o.batches = matrices.front().batches;
          o.values = nlohmann::json::object();
          // What ran, as the measures report it ("cuda tf32", "cpu fp32", ...): on a GPU
          // without the device, "tf32/fp32" for a case that mixes them.
          std::vector<std::string> ran;
          for (const SimilarityMatrix& m : matrices) {
            std::string p = m.precision;
            if (gpu && p.rfind("cuda ", 0) == 0) p = p.substr(5);
            if (!p.empty() && std::find(ran.begin(), ran.end(), p) == ran.end()) ran.push_back(p);
          }
          if (!ran.empty()) o.precision = join(ran, "/");
          for (const SimilarityMatrix& m : matrices) {
            double sum = 0;
            int64_t count = 0;
            for (double v : m.values)
              if (std::isfinite(v)) sum += v, ++count;
            o.values[matrix_name(m)] = count > 0 ? nlohmann::json(sum / count) : nlohmann::json(nullptr);
          }
        }
        return seconds;
      };
      // Warnings (a batch below a measure's advised size) once per case, from its first run.
      int index = 0;
      auto run = [&](bool keep) {
        std::optional<QuietStderr> quiet;
        if (index++ > 0) quiet.emplace();
        return once(keep);
      };
      for (int w = 0; w < args.warmup; ++w) o.warmup += run(false);
      for (int r = 0; r < args.repeats; ++r) o.runs.push_back(run(r + 1 == args.repeats));
      o.seconds = median(o.runs);
      o.madds = gram_madds(c, widths, n, s, gpu);
      o.tflops = 2 * o.madds.total() / o.seconds / 1e12;
      o.peak_tflops = case_peak(o.madds, c, s, peak, gpu);
      o.memory = memory_peak;
    }
    print_row(o);
    std::fflush(stdout);
    doc["cases"].push_back(case_json(o, device.name()));
    write_json();
  }
  doc["complete"] = true;
  doc["peak_memory_bytes"] = memory_peak;
  doc["seconds_total"] = seconds_since(program_start);
  write_json();
  fmt::print("\nGram TFLOP/s: 2 x the Gram products' multiply-adds per second (approximate: {} per layer of p "
             "features and batch of k for CKA, once for all kernels, and again for RSA; Procrustes: its Gram-form "
             "layers and pair products; eigendecompositions, sorts{} not counted); of peak: against {}.\n",
             gpu ? "k^2 p (GEMM)" : "k (k + 1) / 2 p (SYRK)", source_kind == "checkpoint" ? " and the network" : "",
             peak.source);
  fmt::print("total {:.1f} s; peak memory {}\n", seconds_since(program_start), bytes_text(static_cast<double>(memory_peak)));
  if (!args.json.empty()) fmt::print("wrote {}\n", args.json.string());
  return 0;
}

}  // namespace convlab::bench
