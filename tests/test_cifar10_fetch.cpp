// Fetching CIFAR-10 on a fresh machine: only when no copy is found, once, through the fetch
// script (replaced here by one that copies a tiny image folder, as no test touches the
// network), and tools/fetch-cifar10.sh's checksum check.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "framework/backend/cuda_device.h"
#include "framework/core/error.h"
#include "framework/data/cifar10.h"
#include "framework/data/cifar10_fetch.h"
#include "tests/support/error_of.h"
#include "tests/support/source_paths.h"
#include "tests/support/tiny_image_folder.h"

namespace fs = std::filesystem;
using namespace convlab;
using test_support::error_of;

namespace {

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::optional<std::string>& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      setenv(name, value->c_str(), 1);
    else
      unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_)
      setenv(name_.c_str(), old_->c_str(), 1);
    else
      unsetenv(name_.c_str());
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A scratch folder with a working directory two levels down (so that ../shared/data is not
// the developer's copy), a tiny image folder to "download", and a fake fetch script.
class Cifar10Fetch : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("convlab-fetch-{}-{}", ::getpid(),
                                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    work_ = dir_ / "a" / "work";
    fs::create_directories(work_);
    test_support::write_tiny_image_folder(dir_ / "mirror", 1, 1);
    script_ = dir_ / "fake-fetch.sh";
    std::ofstream(script_) << "echo \"$1\" >> " << (dir_ / "calls.log").string() << "\n"
                           << "mkdir -p \"$1\" && cp -r " << (dir_ / "mirror").string() << " \"$1/cifar10-jpg\"\n";
    previous_ = fs::current_path();
    fs::current_path(work_);
  }
  void TearDown() override {
    fs::current_path(previous_);
    fs::remove_all(dir_);
  }
  fs::path dir_, work_, script_, previous_;
  ScopedEnv no_data_env_{"CIFAR10_DIR", std::nullopt};
};

}  // namespace

TEST_F(Cifar10Fetch, FetchesOnceWhenNothingIsFoundThenUsesTheCopy) {
  const ScopedEnv fetch("CONVLAB_FETCH_CIFAR10", script_.string());
  EXPECT_EQ(cifar10_fetch_script(), script_);
  const fs::path found = find_or_fetch_cifar10(std::nullopt);
  EXPECT_EQ(found, work_ / "data" / "cifar10-jpg");
  EXPECT_EQ(read_text(dir_ / "calls.log"), (work_ / "data").string() + "\n");
  EXPECT_EQ(load_cifar10(found, dir_ / "cache").train.size(), 10);
  // Found now: no second fetch.
  EXPECT_EQ(find_or_fetch_cifar10(std::nullopt), found);
  EXPECT_EQ(read_text(dir_ / "calls.log"), (work_ / "data").string() + "\n");
}

TEST_F(Cifar10Fetch, NeverFetchesForAPathGivenOrNamedByTheEnvironment) {
  const ScopedEnv fetch("CONVLAB_FETCH_CIFAR10", script_.string());
  EXPECT_NE(error_of([&] { find_or_fetch_cifar10(dir_ / "nowhere"); }).find("the given path does not exist"),
            std::string::npos);
  {
    const ScopedEnv named("CIFAR10_DIR", (dir_ / "nowhere").string());
    EXPECT_NE(error_of([&] { find_or_fetch_cifar10(std::nullopt); }).find("$CIFAR10_DIR points to nothing"),
              std::string::npos);
  }
  EXPECT_FALSE(fs::exists(dir_ / "calls.log"));
}

TEST_F(Cifar10Fetch, AFailedOrMissingFetchSaysWhatToDo) {
  std::ofstream(dir_ / "failing.sh") << "echo 'no network' >&2\nexit 3\n";
  {
    const ScopedEnv fetch("CONVLAB_FETCH_CIFAR10", (dir_ / "failing.sh").string());
    const std::string what = error_of([&] { find_or_fetch_cifar10(std::nullopt); });
    EXPECT_NE(what.find("failing.sh failed (exit status 3"), std::string::npos) << what;
    EXPECT_NE(what.find("or pass --data PATH"), std::string::npos) << what;
  }
  {
    std::ofstream(dir_ / "idle.sh") << "exit 0\n";
    const ScopedEnv fetch("CONVLAB_FETCH_CIFAR10", (dir_ / "idle.sh").string());
    const std::string what = error_of([&] { find_or_fetch_cifar10(std::nullopt); });
    EXPECT_NE(what.find("finished but left no CIFAR-10 in"), std::string::npos) << what;
  }
  const ScopedEnv fetch("CONVLAB_FETCH_CIFAR10", (dir_ / "absent.sh").string());
  const std::string what = error_of([&] { find_or_fetch_cifar10(std::nullopt); });
  EXPECT_NE(what.find("absent.sh) is missing"), std::string::npos) << what;
  EXPECT_NE(what.find("cifar-10-binary.tar.gz"), std::string::npos) << what;
}

TEST_F(Cifar10Fetch, TheTrainingExecutableFetchesAndSaysTheDeviceFirst) {
  std::ofstream(work_ / "tiny.yaml") << "train_config:\n  num_epochs: 1\n  train_data_size: 10\n  batch_size: 10\n";
  const std::string command =
      fmt::format("CONVLAB_FETCH_CIFAR10={} {} tiny.yaml --cache-dir {} --output run --eval-examples 5 > out.log 2>&1",
                  script_.string(), test_support::train_exe(), (dir_ / "cache").string());
  ASSERT_EQ(std::system(command.c_str()), 0) << read_text(work_ / "out.log");
  const std::string out = read_text(work_ / "out.log");
  EXPECT_EQ(out.rfind("convlab ", 0), 0u) << out;  // the first line names convlab and the device
  // --device auto (the default): the GPU where one answers, else the CPU.
  EXPECT_NE(out.find(cuda_available() ? "device cuda:0" : "device cpu"), std::string::npos) << out;
  EXPECT_NE(out.find("fetching the official binary release into"), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(work_ / "run" / "checkpoints" / "epoch_0001.safetensors"));
  // --no-download: the old error, and no fetch.
  fs::remove_all(work_ / "data");
  fs::remove(dir_ / "calls.log");
  const std::string refused = fmt::format("CONVLAB_FETCH_CIFAR10={} {} tiny.yaml --no-download --output run2 > out2.log 2>&1",
                                          script_.string(), test_support::train_exe());
  EXPECT_NE(std::system(refused.c_str()), 0);
  EXPECT_NE(read_text(work_ / "out2.log").find("CIFAR-10 not found"), std::string::npos) << read_text(work_ / "out2.log");
  EXPECT_FALSE(fs::exists(dir_ / "calls.log"));
}

TEST_F(Cifar10Fetch, TheFetchScriptRefusesADownloadWithTheWrongChecksum) {
  if (std::system("command -v curl > /dev/null || command -v wget > /dev/null") != 0)
    GTEST_SKIP() << "needs curl or wget (tools/install-deps.sh installs curl)";
  std::ofstream(dir_ / "not-cifar.tar.gz") << "not the CIFAR-10 archive\n";
  const std::string command =
      fmt::format("CIFAR10_URL=file://{} bash {}/tools/fetch-cifar10.sh {} > fetch.log 2>&1",
                  (dir_ / "not-cifar.tar.gz").string(), test_support::source_dir(), (dir_ / "into").string());
  EXPECT_NE(std::system(command.c_str()), 0);
  const std::string log = read_text(work_ / "fetch.log");
  EXPECT_NE(log.find("MD5 is"), std::string::npos) << log;
  EXPECT_NE(log.find("expected c32a1d4ab5d03f1284b67883e8d87530"), std::string::npos) << log;
  EXPECT_FALSE(fs::exists(dir_ / "into" / "cifar-10-binary.tar.gz"));
  EXPECT_FALSE(fs::exists(dir_ / "into" / "cifar-10-binary.tar.gz.partial"));
}
