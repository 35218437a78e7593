// The executables as a user runs them on real CIFAR-10: convlab-train on the smoke config,
// then every convlab-analyze command on its checkpoints.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "framework/backend/cuda_device.h"
#include "framework/io/metrics_log.h"
#include "framework/io/npy.h"
#include "framework/io/safetensors.h"
#include "tests/integration/cifar10_source.h"
#include "tests/support/tiny_image_folder.h"
#include "kernels/philox.h"

namespace fs = std::filesystem;
using namespace convlab;
using test_support::cifar10_source;

namespace {


// Runs a command, returns its exit code and puts its output in `output`.
int run(const std::string& command, std::string& output) {
  const std::string full = command + " > run.log 2>&1";
  const int status = std::system(full.c_str());
  std::ifstream log("run.log");
  std::stringstream text;
  text << log.rdbuf();
  output = text.str();
  return WEXITSTATUS(status);
}

std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class Executables : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = cifar10_source();
    if (!source_) GTEST_SKIP() << "CIFAR-10 not found: set CIFAR10_DIR or put cifar10-jpg.tar.gz in ../shared/data";
    dir_ = fs::temp_directory_path() / fmt::format("convlab-executables-{}", ::getpid());
    fs::create_directories(dir_);
    previous_ = fs::current_path();
    fs::current_path(dir_);
  }
  void TearDown() override {
    if (!source_) return;
    fs::current_path(previous_);
    fs::remove_all(dir_);
  }
  // On `device`: the CPU unless a test names the GPU (--device auto would take one where it answers).
  std::string train(const std::string& output, int seed, const std::string& device = "cpu") {
    return fmt::format("{} {}/configs/smoke.yaml --data {} --train-size 256 --epochs 2 --eval-examples 100 --seed {} "
                       "--output {} --quiet --device {}",
                       CONVLAB_TRAIN_EXE, CONVLAB_SOURCE_DIR, source_->string(), seed, output, device);
  }
  std::string analyze(const std::string& args, const std::string& device = "cpu") {
    return fmt::format("{} {} --data {} --examples 200 --batch-size 100 --device {}", CONVLAB_ANALYZE_EXE, args,
                       source_->string(), device);
  }
  std::optional<fs::path> source_;
  fs::path dir_, previous_;
};

}  // namespace

TEST_F(Executables, TrainThenEveryAnalysis) {
  std::string out;
  ASSERT_EQ(run(train("run0", 0), out), 0) << out;
  EXPECT_NE(out.find("metrics:"), std::string::npos) << out;
  EXPECT_NE(out.find("learning_curve.png"), std::string::npos) << out;
  for (const char* f : {"run0/metrics.csv", "run0/metrics.jsonl", "run0/learning_curve.png", "run0/config.yaml",
                        "run0/checkpoints/epoch_0000.safetensors", "run0/checkpoints/epoch_0002.safetensors"})
    EXPECT_TRUE(fs::exists(f)) << f;
  const auto rows = MetricsLog::read_csv("run0/metrics.csv");
  ASSERT_EQ(rows.size(), 3u);  // epoch 0, the network at init, then 1 and 2
  EXPECT_EQ(rows[0].epoch, 0);
  EXPECT_EQ(rows[0].updates, 0);
  ASSERT_EQ(run(train("run1", 1), out), 0) << out;
  const std::string final0 = "run0/checkpoints/epoch_0002.safetensors";
  const std::string final1 = "run1/checkpoints/epoch_0002.safetensors";

  ASSERT_EQ(run(analyze("self " + final0 + " --output a_self"), out), 0) << out;
  for (const char* f : {"a_self/self_linear.npy", "a_self/self_linear.csv", "a_self/self_linear.png",
                        "a_self/self_rbf.npy", "a_self/self_rbf.png", "a_self/summary.json"})
    EXPECT_TRUE(fs::exists(f)) << f;
  const NpyArray self = read_npy("a_self/self_linear.npy");
  ASSERT_EQ(self.shape, (std::vector<int64_t>{10, 10}));
  for (int i = 0; i < 10; ++i) EXPECT_NEAR(self.values<double>()[i * 11], 1.0, 1e-6);

  ASSERT_EQ(run(analyze("pair " + final0 + " " + final1 + " --kernel rbf --output a_pair"), out), 0) << out;
  EXPECT_TRUE(fs::exists("a_pair/pair_rbf.png"));
  const NpyArray pair = read_npy("a_pair/pair_rbf.npy");
  EXPECT_LT(pair.values<double>()[0], 1.0);  // two seeds differ

  ASSERT_EQ(run(analyze("evolution run0 --output a_evo --figure-format png,pdf,svg"), out), 0) << out;
  for (const char* f : {"a_evo/epoch_0000.png", "a_evo/epoch_0000.pdf", "a_evo/epoch_0002.svg", "a_evo/epoch_0002.npy",
                        "a_evo/evolution.gif", "a_evo/evolution_grid.png", "a_evo/evolution_grid.pdf",
                        "a_evo/evolution_grid.svg"})
    EXPECT_TRUE(fs::exists(f)) << f;

  ASSERT_EQ(run(analyze("invariance " + final0 + " --output a_inv"), out), 0) << out;
  EXPECT_TRUE(fs::exists("a_inv/invariance_linear.csv"));
  EXPECT_NE(out.find("permutation"), std::string::npos) << out;
  // summary.json holds the CSVs' numbers, per kernel, with the CSVs' final paths.
  const nlohmann::json inv = nlohmann::json::parse(read_text("a_inv/summary.json"));
  ASSERT_TRUE(inv.contains("invariance")) << inv.dump(2);
  ASSERT_EQ(inv["invariance"].size(), 2u);
  for (const nlohmann::json& entry : inv["invariance"]) {
    const std::string kernel = entry["kernel"];
    EXPECT_TRUE(kernel == "linear" || kernel == "rbf") << kernel;
    EXPECT_EQ(entry["file"], "a_inv/invariance_" + kernel + ".csv");
    EXPECT_EQ(entry["examples"], 200);
    std::ifstream csv(entry["file"].get<std::string>());
    std::string line;
    std::getline(csv, line);
    EXPECT_EQ(line, "layer,features,permutation,scaling,orthogonal,invertible_diagonal");
    size_t r = 0;
    for (; std::getline(csv, line); ++r) {
      ASSERT_LT(r, entry["rows"].size()) << line;
      const nlohmann::json& row = entry["rows"][r];
      std::stringstream cells(line);
      std::string layer, features;
      std::getline(cells, layer, ',');
      std::getline(cells, features, ',');
      EXPECT_EQ(row["layer"], layer);
      EXPECT_EQ(row["features"], std::stoll(features));
      for (const char* column : {"permutation", "scaling", "orthogonal", "invertible_diagonal"}) {
        std::string cell;
        std::getline(cells, cell, ',');
        EXPECT_NEAR(row[column].get<double>(), std::stod(cell), 1e-12) << kernel << " " << layer << " " << column;
      }
    }
    EXPECT_EQ(r, entry["rows"].size());
    EXPECT_EQ(r, 10u);  // All-CNN-C's layers
  }

  // curves: both runs' learning curves in one figure, and their numbers in summary.json.
  ASSERT_EQ(run(fmt::format("{} curves run0 run1/ --output a_curves --figure-format png,svg", CONVLAB_ANALYZE_EXE),
                out),
            0)
      << out;
  EXPECT_TRUE(fs::exists("a_curves/learning_curves.png"));
  EXPECT_TRUE(fs::exists("a_curves/learning_curves.svg"));
  EXPECT_NE(out.find("wrote a_curves in "), std::string::npos) << out;
  const nlohmann::json curves = nlohmann::json::parse(read_text("a_curves/summary.json"));
  EXPECT_EQ(curves["analyses"], nlohmann::json::array());
  EXPECT_EQ(curves["inputs"], (std::vector<std::string>{"run0", "run1/"}));
  EXPECT_EQ(curves["curves"]["file"], "a_curves/learning_curves.png");
  ASSERT_EQ(curves["curves"]["runs"].size(), 2u);
  for (int r = 0; r < 2; ++r) {
    const nlohmann::json& entry = curves["curves"]["runs"][r];
    const std::string name = fmt::format("run{}", r);
    const auto metrics = MetricsLog::read_csv(name + "/metrics.csv");
    EXPECT_EQ(entry["label"], name);
    EXPECT_EQ(entry["folder"], r ? "run1/" : "run0");  // as given
    EXPECT_EQ(entry["metrics"], name + "/metrics.csv");
    EXPECT_EQ(entry["epochs"], 2);
    EXPECT_DOUBLE_EQ(entry["final_test_acc"].get<double>(), metrics.back().test_acc);
    double best = 0, seconds = 0;
    for (const EpochMetrics& row : metrics) best = std::max(best, row.test_acc), seconds += row.seconds;
    EXPECT_DOUBLE_EQ(entry["best_test_acc"].get<double>(), best);
    EXPECT_DOUBLE_EQ(entry["train_seconds"].get<double>(), seconds);
    EXPECT_NE(out.find(name), std::string::npos) << out;
  }

  for (int layer = 0; layer < 3; ++layer) {
    std::vector<float> x(200 * 7);
    for (size_t i = 0; i < x.size(); ++i) x[i] = kernels::random_uniform({5, static_cast<uint32_t>(layer), 0}, i);
    write_npy(fmt::format("layer{}.npy", layer), std::vector<int64_t>{200, 7}, x);
  }
  ASSERT_EQ(run(fmt::format("{} files layer0.npy layer1.npy --vs layer2.npy --output a_files", CONVLAB_ANALYZE_EXE), out), 0)
      << out;
  EXPECT_EQ(read_npy("a_files/files_linear.npy").shape, (std::vector<int64_t>{2, 1}));
  // The precision of the Gram products is recorded; files run on the CPU, which --precision
  // does not change (a warning says so).
  EXPECT_NE(read_text("a_files/summary.json").find("\"precision\": \"cpu fp32\""), std::string::npos);
  ASSERT_EQ(run(fmt::format("{} files layer0.npy layer1.npy --precision tf32 --output a_files", CONVLAB_ANALYZE_EXE),
                out),
            0)
      << out;
  EXPECT_NE(out.find("--precision tf32 applies to a GPU; this analysis ran on the CPU (cpu fp32)"), std::string::npos)
      << out;

  // Every measure, with a bootstrap: a matrix each, its std and the summary's intervals.
  ASSERT_EQ(run(analyze("self " + final0 + " --measure cka,rsa --measure procrustes --kernel linear --bootstrap 20 "
                        "--batch-size 50 --output a_all"),
                out),
            0)
      << out;
  for (const char* f : {"a_all/self_linear.npy", "a_all/self_linear_std.npy", "a_all/self_rsa.png",
                        "a_all/self_rsa_std.npy", "a_all/self_procrustes.csv", "a_all/self_procrustes_std.npy"})
    EXPECT_TRUE(fs::exists(f)) << f;
  const NpyArray procrustes = read_npy("a_all/self_procrustes.npy");
  for (int i = 0; i < 10; ++i) EXPECT_NEAR(procrustes.values<double>()[i * 11], 0.0, 1e-9);
  std::ifstream summary_file("a_all/summary.json");
  const std::string summary((std::istreambuf_iterator<char>(summary_file)), std::istreambuf_iterator<char>());
  EXPECT_NE(summary.find("\"q975\""), std::string::npos);
  EXPECT_NE(summary.find("\"procrustes_forms\""), std::string::npos);
  ASSERT_EQ(run(analyze("evolution run0 --measure rsa --output a_evo_rsa"), out), 0) << out;
  EXPECT_TRUE(fs::exists("a_evo_rsa/evolution.gif"));
  EXPECT_TRUE(fs::exists("a_evo_rsa/epoch_0002.npy"));

  // The float64 measures with a permutation test, and which layer is which between the two
  // runs (run folders or checkpoints).
  ASSERT_EQ(run(analyze("pair " + final0 + " " + final1 + " --measure mutual_knn,cknna,svcca,pwcca,ridge --knn 5 "
                        "--permutations 9 --output a_more") + " --examples 60 --batch-size 30", out), 0) << out;
  for (const char* m : {"mutual_knn", "cknna", "svcca", "pwcca", "ridge"})
    EXPECT_TRUE(fs::exists(fmt::format("a_more/pair_{}.npy", m))) << m;
  EXPECT_NE(out.find("cells significant after Holm"), std::string::npos) << out;
  const nlohmann::json more = nlohmann::json::parse(read_text("a_more/summary.json"));
  ASSERT_EQ(more["analyses"].size(), 5u);
  EXPECT_EQ(more["analyses"][0]["parameters"]["knn"], 5);
  EXPECT_EQ(more["analyses"][0]["precision"], "cpu fp64");
  EXPECT_EQ(more["analyses"][3]["symmetric"], false);  // PWCCA
  EXPECT_EQ(more["analyses"][4]["permutation_test"]["permutations"], 9);
  EXPECT_TRUE(more["analyses"][2].contains("svcca_kept_dims"));
  ASSERT_EQ(run(fmt::format("{} identify run0 {} --measure cka,mutual_knn,ridge --output a_id --examples 60 "
                            "--batch-size 30", CONVLAB_ANALYZE_EXE, final1), out), 0) << out;
  EXPECT_NE(out.find("which layer is which"), std::string::npos) << out;
  const nlohmann::json id = nlohmann::json::parse(read_text("a_id/summary.json"))["identify"];
  ASSERT_EQ(id["rows"].size(), 4u);  // CKA under both kernels unless --kernel
  EXPECT_EQ(id["rows"][0]["measure"], "cka linear");
  EXPECT_EQ(id["rows"][1]["measure"], "cka rbf");
  EXPECT_EQ(id["rows"][0]["pairs"], 2);
  EXPECT_EQ(id["networks"][0], "run0/checkpoints/epoch_0002.safetensors");  // a run folder: its final checkpoint
  EXPECT_EQ(id["pairs"].size(), 2u);
  const std::string table = read_text("a_id/identify.csv");
  EXPECT_EQ(table.rfind("measure,accuracy,layers,pairs\ncka linear,", 0), 0u) << table;

  // A second analysis or export into a folder replaces the first whole: nothing of it is left.
  ASSERT_EQ(run(fmt::format("{} files layer0.npy layer1.npy --output a_self", CONVLAB_ANALYZE_EXE), out), 0) << out;
  EXPECT_TRUE(fs::exists("a_self/files_linear.npy"));
  for (const char* f : {"a_self/self_linear.npy", "a_self/self_rbf.png", "a_self/self_linear.csv"})
    EXPECT_FALSE(fs::exists(f)) << f;
  EXPECT_EQ(read_text("a_self/summary.json").find("self_"), std::string::npos);
  ASSERT_EQ(run(analyze("features " + final0 + " --layers conv3,conv9 --output f_exp") + " --examples 30", out), 0)
      << out;
  EXPECT_TRUE(fs::exists("f_exp/conv3_1b.npy"));
  ASSERT_EQ(run(analyze("features " + final1 + " --layers conv9 --output f_exp/") + " --examples 20", out), 0) << out;
  EXPECT_NE(out.find("  f_exp/conv9_5.npy\n"), std::string::npos) << out;  // the final paths, not the staging's
  EXPECT_NE(out.find("  f_exp/manifest.json\n"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists("f_exp/conv3_1b.npy"));  // the first network's layer
  EXPECT_EQ(read_npy("f_exp/labels.npy").shape, (std::vector<int64_t>{20}));
  EXPECT_EQ(read_npy("f_exp/conv9_5.npy").shape[0], 20);
  for (const auto& entry : fs::directory_iterator("."))
    EXPECT_EQ(entry.path().filename().string().find(".staging"), std::string::npos) << entry.path();
  // files checks exported files against their manifest, and says so.
  ASSERT_EQ(run(fmt::format("{} files f_exp/conv9_5.npy f_exp/logits.npy --output a_fx", CONVLAB_ANALYZE_EXE), out), 0)
      << out;
  EXPECT_NE(out.find("inputs: 2 files of one export (f_exp/manifest.json, export "), std::string::npos) << out;
  EXPECT_NE(out.find("CRC-32 checked"), std::string::npos) << out;
  EXPECT_NE(read_text("a_fx/summary.json").find("\"a_fx/files_linear.npy\""), std::string::npos);

  // A folder holding another kind of output, or a file, is refused naming --output, untouched.
  EXPECT_NE(run(analyze("self " + final0 + " --output run0"), out), 0);
  EXPECT_NE(out.find("run0 holds a training run, and an analysis must not be written into it: choose another --output"),
            std::string::npos) << out;
  EXPECT_TRUE(fs::exists("run0/metrics.csv"));
  EXPECT_NE(run(fmt::format("{} files layer0.npy --output f_exp", CONVLAB_ANALYZE_EXE), out), 0);
  EXPECT_NE(out.find("f_exp holds a feature export"), std::string::npos) << out;
  EXPECT_NE(run(analyze("features " + final0 + " --output a_fx"), out), 0);
  EXPECT_NE(out.find("a_fx holds an analysis"), std::string::npos) << out;
  EXPECT_NE(run(fmt::format("{} files layer0.npy --output layer1.npy", CONVLAB_ANALYZE_EXE), out), 0);
  EXPECT_NE(out.find("layer1.npy is a file, not a folder: choose another --output"), std::string::npos) << out;
  // --output ~/x is the home folder's x, as for convlab-train.
  ASSERT_EQ(run(fmt::format("HOME={} {} files layer0.npy layer1.npy --output '~/a_home'", (dir_ / "home").string(),
                            CONVLAB_ANALYZE_EXE), out), 0) << out;
  EXPECT_TRUE(fs::exists("home/a_home/files_linear.npy"));

  // More examples than there are: all of them, with a warning naming both numbers.
  ASSERT_EQ(run(fmt::format("{} files layer0.npy layer1.npy --examples 500 --output a_files", CONVLAB_ANALYZE_EXE), out),
            0) << out;
  EXPECT_NE(out.find("convlab-analyze: warning: --examples 500 asks for more examples (rows of the feature files) than "
                     "there are (200): using all 200"), std::string::npos) << out;
  test_support::write_tiny_image_folder("tiny", 1, 2);  // 20 test images
  const std::string tiny = fmt::format("--data tiny --cache-dir tiny_cache --device cpu --layers conv9");
  ASSERT_EQ(run(fmt::format("{} features {} {} --examples 60000 --output f_tiny", CONVLAB_ANALYZE_EXE, final0, tiny), out),
            0) << out;
  EXPECT_NE(out.find("convlab-analyze: warning: --examples 60000 asks for more images of the test split than there "
                     "are (20): using all 20"), std::string::npos) << out;
  EXPECT_EQ(read_npy("f_tiny/indices.npy").shape, (std::vector<int64_t>{20}));
  ASSERT_EQ(run(fmt::format("{} self {} --data tiny --cache-dir tiny_cache --device cpu --kernel linear --examples 20000 "
                            "--output a_tiny", CONVLAB_ANALYZE_EXE, final0), out), 0) << out;
  EXPECT_NE(out.find("convlab-analyze: warning: --examples 20000 asks for more test images than there are (20): using "
                     "all 20"), std::string::npos) << out;

  // Two analyses into one folder at once: the second is refused at once, naming the first,
  // which finishes intact.
  const std::string busy = fmt::format("{} self {} --data {} --examples 500 --batch-size 250 --kernel linear --device "
                                       "cpu --output a_busy", CONVLAB_ANALYZE_EXE, final0, source_->string());
  ASSERT_EQ(std::system(("(" + busy + " > busy.log 2>&1; echo $? > busy.rc) &").c_str()), 0);
  for (int i = 0; i < 3000 && read_text("a_busy/.convlab-lock").find("pid:") == std::string::npos; ++i) ::usleep(10000);
  const std::string holder = read_text("a_busy/.convlab-lock");
  EXPECT_NE(run(fmt::format("{} files layer0.npy layer1.npy --output a_busy", CONVLAB_ANALYZE_EXE), out), 0);
  const size_t pid_at = holder.find("pid: ");
  ASSERT_NE(pid_at, std::string::npos) << holder;
  const std::string pid = holder.substr(pid_at + 5, holder.find('\n', pid_at) - pid_at - 5);
  EXPECT_NE(out.find("a_busy is in use by pid " + pid + " on host "), std::string::npos) << out;
  EXPECT_NE(out.find("writing an analysis (convlab-analyze). Wait for it to end, or choose another --output"),
            std::string::npos) << out;
  for (int i = 0; i < 1200 && !fs::exists("busy.rc"); ++i) ::usleep(100000);
  EXPECT_EQ(read_text("busy.rc"), "0\n") << read_text("busy.log");
  EXPECT_EQ(read_npy("a_busy/self_linear.npy").shape, (std::vector<int64_t>{10, 10})) << read_text("busy.log");
  EXPECT_FALSE(fs::exists("a_busy/files_linear.npy"));
  EXPECT_NE(read_text("a_busy/summary.json").find("\"examples\": 500"), std::string::npos);

  // Bad input gets a clear error.
  EXPECT_NE(run(analyze("self " + final0 + " --rbf-frac abc"), out), 0);
  EXPECT_NE(out.find("--rbf-frac expects a number in (0, 1000000], got 'abc'"), std::string::npos) << out;
  EXPECT_NE(run(fmt::format("{} files layer0.npy --vs", CONVLAB_ANALYZE_EXE), out), 0);
  EXPECT_NE(out.find("--vs needs the .npy files"), std::string::npos) << out;
  EXPECT_NE(run(analyze("self " + final0 + " --precision fp16"), out), 0);
  EXPECT_NE(out.find("--precision is fp32 or tf32, not 'fp16'"), std::string::npos) << out;
  EXPECT_NE(run(analyze("invariance " + final0 + " --precision fp32"), out), 0);
  EXPECT_NE(out.find("invariance has no use for it"), std::string::npos) << out;
  EXPECT_NE(run(analyze("self " + final0 + " --measure cka,cca"), out), 0);
  EXPECT_NE(out.find("mutual_knn, cknna, svcca, pwcca, ridge"), std::string::npos) << out;
  EXPECT_NE(run(analyze("identify " + final0), out), 0);
  EXPECT_NE(out.find("identify takes two or more networks"), std::string::npos) << out;
  EXPECT_NE(run(analyze("invariance " + final0 + " --permutations 9"), out), 0);
  EXPECT_NE(out.find("--permutations tests the matrices"), std::string::npos) << out;
  EXPECT_NE(run(analyze("self missing.safetensors"), out), 0);
  EXPECT_NE(out.find("missing.safetensors"), std::string::npos) << out;
  EXPECT_NE(run(fmt::format("{} {}/configs/smoke.yaml --epochs abc", CONVLAB_TRAIN_EXE, CONVLAB_SOURCE_DIR), out), 0);
  EXPECT_NE(out.find("--epochs"), std::string::npos) << out;
  EXPECT_NE(run(analyze("self " + final0 + " --figure-format png,jpg"), out), 0);
  EXPECT_NE(out.find("'jpg'"), std::string::npos) << out;
  for (const char* layers : {"''", ","}) {
    EXPECT_NE(run(analyze(fmt::format("features {} --layers {} --output f_none", final0, layers)), out), 0);
    EXPECT_NE(out.find("names no layer"), std::string::npos) << out;
    EXPECT_NE(out.find("leave --layers out to export every layer"), std::string::npos) << out;
  }
  EXPECT_FALSE(fs::exists("f_none"));  // refused before the output folder is made
  // curves takes run folders, and no option of the analyses; both refused before the output
  // folder is made.
  EXPECT_NE(run(fmt::format("{} curves run0 a_self --output c_none", CONVLAB_ANALYZE_EXE), out), 0);
  EXPECT_NE(out.find("a_self holds no metrics.csv: not a convlab-train run folder"), std::string::npos) << out;
  EXPECT_NE(run(fmt::format("{} curves run0 --measure rsa --output c_none", CONVLAB_ANALYZE_EXE), out), 0);
  EXPECT_NE(out.find("curves draws the runs' metrics.csv: --measure has no use here"), std::string::npos) << out;
  EXPECT_NE(run(analyze("curves run0 --output c_none"), out), 0);
  EXPECT_NE(out.find("--data has no use here"), std::string::npos) << out;
  EXPECT_NE(run(fmt::format("{} curves --output c_none", CONVLAB_ANALYZE_EXE), out), 0);
  EXPECT_NE(out.find("curves needs one or more run folders"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists("c_none"));
}

TEST_F(Executables, CudaTrainWithGraphsThenEveryMeasureOnTheGpu) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA GPU";
  std::string out;
  ASSERT_EQ(run(train("gpu_run", 0, "cuda") + " --cuda-graph", out), 0) << out;
  const auto rows = MetricsLog::read_csv("gpu_run/metrics.csv");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_TRUE(std::isfinite(rows.back().train_loss));
  EXPECT_GT(rows.back().test_acc, 0.0);
  const std::string final = "gpu_run/checkpoints/epoch_0002.safetensors";
  EXPECT_EQ(read_safetensors(final).metadata.at("device").rfind("cuda:0", 0), 0u);
  ASSERT_EQ(run(analyze("self " + final + " --measure cka,rsa,procrustes --kernel linear --output g_all", "cuda"), out), 0)
      << out;
  // A layer against itself: CKA 1 and Procrustes 0, within TF32 Gram matrices' rounding.
  const NpyArray cka = read_npy("g_all/self_linear.npy"), procrustes = read_npy("g_all/self_procrustes.npy");
  for (int i = 0; i < 10; ++i) {
    EXPECT_NEAR(cka.values<double>()[i * 11], 1.0, 1e-5) << i;
    EXPECT_NEAR(procrustes.values<double>()[i * 11], 0.0, 1e-5) << i;
  }
  EXPECT_TRUE(fs::exists("g_all/self_rsa.npy"));
}

TEST_F(Executables, ResNet20TrainsAndEveryAnalysisWorksOnIt) {
  std::string out;
  const std::string common =
      fmt::format("--data {} --train-size 256 --epochs 2 --eval-examples 100 --quiet --device cpu", source_->string());
  ASSERT_EQ(run(fmt::format("{} {}/configs/resnet20.yaml {} --output resnet", CONVLAB_TRAIN_EXE, CONVLAB_SOURCE_DIR, common), out), 0)
      << out;
  ASSERT_EQ(run(fmt::format("{} {}/configs/smoke.yaml {} --output allcnn", CONVLAB_TRAIN_EXE, CONVLAB_SOURCE_DIR, common), out), 0)
      << out;
  const std::string resnet = "resnet/checkpoints/epoch_0002.safetensors";
  const std::string allcnn = "allcnn/checkpoints/epoch_0002.safetensors";
  EXPECT_EQ(read_safetensors(resnet).metadata.at("model_name"), "resnet20");
  EXPECT_EQ(read_safetensors(resnet).at("layer2.0.downsample.0.weight").shape, (std::vector<int64_t>{32, 16, 1, 1}));

  ASSERT_EQ(run(analyze("self " + resnet + " --output r_self"), out), 0) << out;
  const NpyArray self = read_npy("r_self/self_linear.npy");
  ASSERT_EQ(self.shape, (std::vector<int64_t>{12, 12}));
  for (int i = 0; i < 12; ++i) EXPECT_NEAR(self.values<double>()[i * 13], 1.0, 1e-6);
  // Different architectures and layer counts: 12 ResNet-20 features against All-CNN-C's 10.
  ASSERT_EQ(run(analyze("pair " + resnet + " " + allcnn + " --output r_pair"), out), 0) << out;
  EXPECT_EQ(read_npy("r_pair/pair_linear.npy").shape, (std::vector<int64_t>{12, 10}));
  std::ifstream csv("r_pair/pair_linear.csv");
  std::string header;
  std::getline(csv, header);
  EXPECT_NE(header.find("conv1 (1a)"), std::string::npos) << header;
  ASSERT_EQ(run(analyze("evolution resnet --output r_evo"), out), 0) << out;
  EXPECT_TRUE(fs::exists("r_evo/evolution.gif"));
  ASSERT_EQ(run(analyze("invariance " + resnet + " --output r_inv"), out), 0) << out;
  EXPECT_NE(out.find("layer3.2"), std::string::npos) << out;
}

extern "C" char** environ;

namespace {

// The peak resident memory (bytes) of one run of argv, from wait4's rusage of that child.
// fork, not posix_spawn: a child spawned on the parent's address space (CLONE_VM) starts
// its count at the parent's own peak, here the feature arrays it wrote, while a forked child
// starts at the parent's current memory.
int64_t peak_rss_of(const std::vector<std::string>& argv, int& status) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  EXPECT_GE(pid, 0);
  if (pid == 0) {  // only async-signal-safe calls until exec
    const int log = open("rss.log", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (log >= 0) {
      dup2(log, 1);
      dup2(log, 2);
    }
    execve(args[0], args.data(), environ);
    _exit(127);
  }
  struct rusage usage {};
  wait4(pid, &status, 0, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;  // ru_maxrss is in KiB
}

}  // namespace

// files streams its inputs: memory holds a batch of every layer, not the files. Run on 240 MB
// and on 120 MB of features (the same width, half the examples), the peak memory grows by far
// less than the files do; reading them whole, it grew by at least as much (it held each file
// and a copy of it). Needs no data set.
TEST(ExecutablesWithoutData, FilesStreamsItsInputs) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("convlab-streaming-{}", ::getpid());
  fs::create_directories(dir);
  const int64_t p = 15000;
  auto peak_for = [&](int64_t n) {
    std::vector<std::string> argv{CONVLAB_ANALYZE_EXE, "files"};
    for (int layer = 0; layer < 2; ++layer) {
      std::vector<float> x(static_cast<size_t>(n * p));
      for (size_t i = 0; i < x.size(); ++i)
        x[i] = kernels::random_uniform({9, static_cast<uint32_t>(layer), 0}, i % 40000 + (i / p) * (layer + 1));
      const fs::path file = dir / fmt::format("layer{}_{}.npy", layer, n);
      write_npy(file, std::vector<int64_t>{n, p}, x);
      argv.push_back(file.string());
    }
    for (const char* a : {"--batch-size", "200", "--output"}) argv.push_back(a);
    argv.push_back((dir / "out").string());
    const fs::path previous = fs::current_path();
    fs::current_path(dir);
    int status = 0;
    const int64_t peak = peak_rss_of(argv, status);
    fs::current_path(previous);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT_TRUE(fs::exists(dir / "out" / "files_linear.npy"));
    return peak;
  };
  const int64_t half = peak_for(1000), full = peak_for(2000);
  const int64_t added = 2 * 1000 * p * 4;  // 120 MB more features
  std::printf("files: peak RSS %.0f MB on 120 MB of features, %.0f MB on 240 MB\n", half / 1e6, full / 1e6);
  EXPECT_LT(full - half, added / 4) << "peak RSS " << half / 1e6 << " MB, then " << full / 1e6 << " MB";
  fs::remove_all(dir);
}
