// How long the first load of the CIFAR-10 JPEG archive takes, extraction and decoding timed
// apart. A measurement, not a test, so disabled by default (docs/RESULTS.md has the figures):
//
//   build/tests/convlab_integration --gtest_also_run_disabled_tests --gtest_filter='*DecodeSpeed*'
#include <fmt/core.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <vector>

#include "framework/data/image_folder.h"
#include "framework/data/tar_reader.h"
#include "tests/integration/cifar10_source.h"

namespace fs = std::filesystem;
using namespace convlab;

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST(DISABLED_DecodeSpeed, FirstLoadOfTheJpegArchive) {
  const std::optional<fs::path> source = test_support::cifar10_source();
  if (!source || fs::is_directory(*source)) GTEST_SKIP() << "needs the CIFAR-10 JPEG archive (CIFAR10_DIR)";
  const fs::path dir = fs::temp_directory_path() / fmt::format("convlab-decode-speed-{}", ::getpid());
  fs::remove_all(dir);

  const auto start = std::chrono::steady_clock::now();
  extract_tar_once(*source, dir);
  const double extract_s = seconds_since(start);
  fs::path root;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.is_directory() && is_image_folder(entry.path())) root = entry.path();
  ASSERT_FALSE(root.empty()) << "no image folder in " << *source;
  const ImageFolder folder = list_image_folder(root);

  std::vector<double> decode_s, cpu_s;
  for (int rep = 0; rep < 3; ++rep) {
    const auto begin = std::chrono::steady_clock::now();
    const std::clock_t cpu_begin = std::clock();
    const ImageSet train = decode_image_files(folder.train);
    const ImageSet test = decode_image_files(folder.test);
    decode_s.push_back(seconds_since(begin));
    cpu_s.push_back(static_cast<double>(std::clock() - cpu_begin) / CLOCKS_PER_SEC);
    ASSERT_EQ(train.size() + test.size(), static_cast<int64_t>(folder.train.size() + folder.test.size()));
  }
  std::sort(decode_s.begin(), decode_s.end());
  std::sort(cpu_s.begin(), cpu_s.end());
  fmt::print("{} images: extraction {:.2f} s; decoding {:.2f} s wall, {:.2f} s CPU (medians of 3; wall {:.2f} .. "
             "{:.2f} s)\n",
             folder.train.size() + folder.test.size(), extract_s, decode_s[1], cpu_s[1], decode_s[0], decode_s[2]);
  fs::remove_all(dir);
}
