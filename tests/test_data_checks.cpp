// What loading refuses before anything is trained: an empty split, more classes than the
// model has, images that are not what they claim or promise a huge size; and how leftovers
// of killed loads are cleaned up.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "framework/core/error.h"
#include "framework/data/cifar10.h"
#include "framework/data/fingerprint.h"
#include "framework/data/image_decoder.h"
#include "framework/io/orphans.h"
#include "tests/support/error_of.h"
#include "tests/support/scratch_dir.h"
#include "tests/support/source_paths.h"
#include "tests/support/tiny_image_folder.h"

namespace convlab {
namespace {

namespace fs = std::filesystem;
using test_support::error_of;

const fs::path kImageCorpus = fs::path(test_support::source_dir()) / "tests/fuzz/corpus/image";

class DataChecks : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test_support::fresh_test_dir("data-checks");
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string decode_error(const std::string& bytes) {
  std::vector<uint8_t> planar(3 * 32 * 32);
  return error_of([&] {
    ImageDecoder().decode(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "img", planar.data());
  });
}

// A PNG that promises width x height RGB and holds no pixels.
std::string png_header(uint32_t width, uint32_t height) {
  auto be32 = [](uint32_t v) {
    return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                       static_cast<char>(v)};
  };
  auto chunk = [&](const std::string& type_and_data) {
    const uint32_t crc =
        static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(type_and_data.data()), type_and_data.size()));
    return be32(static_cast<uint32_t>(type_and_data.size() - 4)) + type_and_data + be32(crc);
  };
  return std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR" + be32(width) + be32(height) + std::string{8, 2, 0, 0, 0}) +
         chunk("IDAT") + chunk("IEND");
}

// The pid of a process that has exited.
long dead_pid() {
  const pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  return child;
}

std::string this_host() {
  const std::string tag = writer_tag();
  return tag.substr(tag.find('@') + 1);
}

TEST_F(DataChecks, AnEmptyTestSplitIsRefusedAtLoad) {
  // Once an fwrite from null in the cache writer, after a full training epoch.
  test_support::write_tiny_image_folder(dir_ / "data", 2, 0);
  const std::string message = error_of([&] { load_cifar10(dir_ / "data", dir_ / "cache"); });
  EXPECT_NE(message.find((dir_ / "data" / "test").string() + " holds no .png or .jpg images: the test split is empty"),
            std::string::npos)
      << message;
}

TEST_F(DataChecks, MoreClassesThanTheModelHasAreRefused) {
  Cifar10 data;
  data.source_description = "an 11-class set";
  for (int i = 0; i < 11; ++i) data.class_names.push_back(fmt::format("c{}", i));
  data.train.labels = {0, 10};
  data.test.labels = {3};
  EXPECT_NO_THROW(check_class_count(data, 11));
  const std::string message = error_of([&] { check_class_count(data, 10); });
  EXPECT_NE(message.find("an 11-class set has 11 classes (c0, c1"), std::string::npos) << message;
  EXPECT_NE(message.find("model_config.num_classes is 10"), std::string::npos) << message;
  data.class_names.resize(2);  // labels beyond the names count too
  EXPECT_NE(error_of([&] { check_class_count(data, 10); }).find("has 11 classes"), std::string::npos);
}

TEST_F(DataChecks, ImagesDecodeFromMemoryByTheirSignature) {
  std::vector<uint8_t> planar(3 * 32 * 32);
  ImageDecoder decoder;
  for (const char* name : {"synthetic_gradient_420.jpg", "synthetic_stripes_444.jpg", "rgb_32x32.png"}) {
    const std::string bytes = read_all(kImageCorpus / name);
    ASSERT_FALSE(bytes.empty()) << name;
    EXPECT_NO_THROW(decoder.decode(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), name,
                                   planar.data()));
  }
  // The PNG's red plane at (y, x) is (7x + 3y) mod 256.
  EXPECT_EQ(planar[0], 0);
  EXPECT_EQ(planar[1 * 32 + 2], 17);
}

TEST_F(DataChecks, TruncatedJpegNamesItsRealFormat) {
  const std::string jpeg = read_all(kImageCorpus / "synthetic_gradient_420.jpg");
  for (size_t keep : {jpeg.size() / 2, size_t{40}, size_t{4}}) {
    const std::string message = decode_error(jpeg.substr(0, keep));
    EXPECT_NE(message.find("JPEG"), std::string::npos) << keep << ": " << message;
    EXPECT_EQ(message.find("png"), std::string::npos) << keep << ": " << message;
  }
}

TEST_F(DataChecks, FilesThatBrokeStbImageGetClearErrors) {
  // The kinds of input with which the image fuzzer broke Debian's stb_image 2.27, which
  // convlab decoded with before, rebuilt from synthetic images (tests/fuzz/corpus/README.md):
  // Huffman tables of more than 256 codes, within and past their segment (stb wrote past
  // the table); bytes outside any segment in the header and stray markers in the entropy
  // data (stb shifted by 33 bits and read before a table); an IDAT chunk claiming 2 GB (stb
  // allocated it); an empty chunk (a memcpy from null).
  const std::pair<const char*, const char*> cases[] = {
      {"jpeg_huffman_table_over_256_codes.jpg", "Bogus Huffman table definition"},
      {"jpeg_huffman_table_past_its_segment.jpg", "Bogus marker length"},
      {"jpeg_header_extraneous_bytes_before_marker.jpg", "JPEG header of image img (1146 bytes): Corrupt JPEG data: 3 extraneous bytes before marker"},
      {"jpeg_corrupt_entropy_data.jpg", "cannot decode JPEG image img (1143 bytes): truncated or corrupt (Corrupt JPEG data"},
      {"png_idat_longer_than_the_file.png", "cannot decode PNG image img (1020 bytes): truncated or corrupt"},
      {"png_empty_chunk_stb_null_memcpy.png", "PNG image img"},
  };
  for (const auto& [name, expected] : cases) {
    const std::string bytes = read_all(kImageCorpus / name);
    ASSERT_FALSE(bytes.empty()) << name;
    const std::string message = decode_error(bytes);
    EXPECT_NE(message.find(expected), std::string::npos) << name << ": " << message;
  }
}

TEST_F(DataChecks, ImageSizeIsReadFromTheHeaderBeforeDecoding) {
  // 0.8 MB of PNG once decoded to 1.9 GB before it was refused; the header alone says enough.
  const std::string message = decode_error(png_header(17000, 17000));
  EXPECT_NE(message.find("img is a 17000x17000 PNG with 3 channel(s)"), std::string::npos) << message;
  EXPECT_NE(decode_error("GIF89a...").find("neither PNG nor JPEG (it starts with 47 49 46 38"), std::string::npos)
      << decode_error("GIF89a...");
  EXPECT_NE(decode_error("").find("starts with nothing"), std::string::npos);
}

TEST_F(DataChecks, FilesThatChangeWhileDecodedAreRefused) {
  test_support::write_tiny_image_folder(dir_ / "data", 1, 1);
  const std::vector<fs::path> files = {dir_ / "data/train/cat/0000.png", dir_ / "data/test/dog/0000.png"};
  const uint64_t before = fingerprint_files(dir_ / "data", files);
  check_files_unchanged(dir_ / "data", files, before, "the folder data");  // unchanged: no error

  fs::last_write_time(files[0], fs::last_write_time(files[0]) + std::chrono::seconds(5));
  std::string message = error_of([&] { check_files_unchanged(dir_ / "data", files, before, "the folder data"); });
  EXPECT_NE(message.find("the folder data changed while it was being decoded"), std::string::npos) << message;
  EXPECT_NE(message.find("not cached"), std::string::npos) << message;

  const uint64_t touched = fingerprint_files(dir_ / "data", files);
  fs::remove(files[1]);
  message = error_of([&] { check_files_unchanged(dir_ / "data", files, touched, "the folder data"); });
  EXPECT_NE(message.find("changed while it was being decoded"), std::string::npos) << message;
  EXPECT_NE(message.find("test/dog/0000.png"), std::string::npos) << message;
}

TEST_F(DataChecks, TemporariesOfGoneWritersAreRemoved) {
  const std::string host = this_host();
  const long gone = dead_pid();
  const long alive = getpid();
  const std::vector<std::pair<std::string, bool>> files = {
      {fmt::format("resume.safetensors.{}@{}.tmp", gone, host), true},        // a killed writer here
      {fmt::format("resume.safetensors.{}@{}.tmp", alive, host), false},      // a writer still at work
      {fmt::format("cache.bin.{}-0a1b2c3d@{}.tmp", gone, host), true},
      {fmt::format("other.safetensors.{}@elsewhere.example.tmp", gone), false},  // another host: unknown
      {"resume.safetensors.tmp", true},                                           // an older version's
      {"metrics.csv", false},
  };
  for (const auto& [name, removed] : files) std::ofstream(dir_ / name) << "x";
  EXPECT_EQ(remove_orphan_temporaries(dir_, /*other_hosts_gone=*/false), 3);
  for (const auto& [name, removed] : files) EXPECT_EQ(fs::exists(dir_ / name), !removed) << name;
  // In a run folder, which one run writes to, other hosts' leftovers go too.
  EXPECT_EQ(remove_orphan_temporaries(dir_, /*other_hosts_gone=*/true), 1);
  EXPECT_FALSE(fs::exists(dir_ / fmt::format("other.safetensors.{}@elsewhere.example.tmp", gone)));
}

TEST_F(DataChecks, CacheLeftoversOfKilledLoadsAreRemovedOnTheNextLoad) {
  const fs::path cache = dir_ / "cache";
  const std::string host = this_host();
  const long gone = dead_pid();
  const std::vector<std::pair<std::string, bool>> leftovers = {
      {fmt::format("extracted-0123456789abcdef.partial-{}@{}", gone, host), true},
      {fmt::format("extracted-0123456789abcdef.partial-{}", gone), true},  // named before hosts were
      {fmt::format("extracted-0123456789abcdef.partial-{}@{}", getpid(), host), false},
      {fmt::format("extracted-0123456789abcdef.partial-{}@elsewhere", gone), false},
  };
  for (const auto& [name, removed] : leftovers) fs::create_directories(cache / name / "train");
  std::ofstream(cache / fmt::format("cifar10-0123456789abcdef.bin.tmp-{}-00ff00ff", gone)) << "old";
  std::ofstream(cache / fmt::format("cifar10-0123456789abcdef.bin.{}-00ff00ff@{}.tmp", gone, host)) << "new";
  test_support::write_tiny_image_folder(dir_ / "data", 1, 1);
  load_cifar10(dir_ / "data", cache);
  for (const auto& [name, removed] : leftovers) EXPECT_EQ(fs::exists(cache / name), !removed) << name;
  for (const fs::directory_entry& entry : fs::directory_iterator(cache))
    EXPECT_EQ(entry.path().string().find(fmt::format("{}", gone) + "-00ff00ff"), std::string::npos) << entry.path();
}

}  // namespace
}  // namespace convlab
