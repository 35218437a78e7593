// convlab's JPEG pixels are Pillow's, bit for bit: JPEGs encoded here with libjpeg-turbo (at
// the CIFAR copy's 4:2:0 chroma subsampling and others, baseline and progressive, several
// qualities) decode in convlab to exactly the bytes PIL.Image.open(f).convert("RGB") gives.
// Pillow runs in the interop tests' Python (tests/interop/with_python.sh); the test skips only
// when there is no python3 at all, and fails saying what to install when Pillow is missing.
#include <fmt/core.h>
#include <gtest/gtest.h>
#include <turbojpeg.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "framework/data/image_decoder.h"
#include "kernels/philox.h"

namespace fs = std::filesystem;
using namespace convlab;

namespace {

constexpr int kSide = 32;

// A 32x32 RGB picture with smooth gradients, sharp colour edges (where chroma upsampling
// shows) and noise, different for each seed.
std::vector<uint8_t> picture(uint32_t seed) {
  std::vector<uint8_t> rgb(kSide * kSide * 3);
  for (int y = 0; y < kSide; ++y)
    for (int x = 0; x < kSide; ++x)
      for (int c = 0; c < 3; ++c) {
        const double smooth = 127.5 + 100 * std::sin(0.21 * (x + 3 * c) + 0.13 * seed) * std::cos(0.17 * y);
        const double edge = ((x + seed) / 7 + y / 5 + c) % 3 == 0 ? 90 : -40;
        const double noise = 60 * (kernels::random_uniform({seed, 5, 0}, (y * kSide + x) * 3 + c) - 0.5);
        rgb[(y * kSide + x) * 3 + c] = static_cast<uint8_t>(std::clamp(smooth + edge + noise, 0.0, 255.0));
      }
  return rgb;
}

std::vector<uint8_t> encode(const std::vector<uint8_t>& rgb, int subsampling, int quality, int flags) {
  tjhandle handle = tjInitCompress();
  unsigned char* jpeg = nullptr;
  unsigned long size = 0;
  const int rc = tjCompress2(handle, rgb.data(), kSide, kSide * 3, kSide, TJPF_RGB, &jpeg, &size, subsampling,
                             quality, flags);
  const std::string error = rc == 0 ? "" : tjGetErrorStr2(handle);
  std::vector<uint8_t> bytes(jpeg, jpeg + (rc == 0 ? size : 0));
  tjFree(jpeg);
  tjDestroy(handle);
  if (rc != 0) ADD_FAILURE() << "tjCompress2: " << error;
  return bytes;
}

struct Case {
  std::string name;
  int subsampling, quality, flags;
};

}  // namespace

TEST(JpegMatchesPillow, GeneratedJpegsDecodeToPillowsBytes) {
  const std::vector<Case> cases = {
      {"420_q75", TJSAMP_420, 75, 0},  // the CIFAR-10 JPEG copy's settings
      {"420_q95", TJSAMP_420, 95, 0},
      {"420_q30", TJSAMP_420, 30, 0},
      {"420_q75_progressive", TJSAMP_420, 75, TJFLAG_PROGRESSIVE},
      {"422_q75", TJSAMP_422, 75, 0},
      {"440_q90", TJSAMP_440, 90, 0},
      {"411_q80", TJSAMP_411, 80, 0},
      {"444_q100", TJSAMP_444, 100, 0},
      {"444_q50_progressive", TJSAMP_444, 50, TJFLAG_PROGRESSIVE},
  };
  const fs::path dir = fs::temp_directory_path() / fmt::format("convlab-jpeg-pillow-{}", ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::vector<fs::path> files;
  std::string file_list;
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::vector<uint8_t> jpeg = encode(picture(static_cast<uint32_t>(i + 1)), cases[i].subsampling,
                                             cases[i].quality, cases[i].flags);
    files.push_back(dir / (cases[i].name + ".jpg"));
    std::ofstream(files.back(), std::ios::binary).write(reinterpret_cast<const char*>(jpeg.data()), jpeg.size());
    file_list += " " + files.back().string();
  }

  // Pillow's decoding of every file, concatenated.
  const fs::path reference = dir / "pillow.rgb", log = dir / "pillow.log";
  setenv("CONVLAB_CONFIGURED_PYTHON", CONVLAB_CONFIGURED_PYTHON, /*overwrite=*/0);
  const std::string command = fmt::format("bash {0}/tests/interop/with_python.sh {0}/tests/interop/pillow_decode.py {1}{2} > {3} 2>&1",
                                          CONVLAB_SOURCE_DIR, reference.string(), file_list, log.string());
  const int status = std::system(command.c_str());
  std::stringstream output;
  output << std::ifstream(log).rdbuf();
  if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
    fs::remove_all(dir);
    GTEST_SKIP() << output.str();
  }
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << output.str();
  std::cout << output.str();
  std::ifstream in(reference, std::ios::binary);
  const std::vector<uint8_t> pillow((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_EQ(pillow.size(), files.size() * kSide * kSide * 3);

  ImageDecoder decoder;
  for (size_t f = 0; f < files.size(); ++f) {
    std::ifstream jpeg_in(files[f], std::ios::binary);
    const std::vector<uint8_t> jpeg((std::istreambuf_iterator<char>(jpeg_in)), std::istreambuf_iterator<char>());
    std::vector<uint8_t> planar(3 * kSide * kSide);
    decoder.decode(jpeg, files[f].string(), planar.data());
    int differing = 0, largest = 0;
    for (int i = 0; i < kSide * kSide; ++i)
      for (int c = 0; c < 3; ++c) {
        const int d = std::abs(planar[c * kSide * kSide + i] - pillow[f * kSide * kSide * 3 + i * 3 + c]);
        differing += d != 0;
        largest = std::max(largest, d);
      }
    EXPECT_EQ(differing, 0) << cases[f].name << ": " << differing << " of " << 3 * kSide * kSide
                            << " values differ from Pillow's, by up to " << largest;
  }
  fs::remove_all(dir);
}
