// CIFAR-10 loading from every supported source, on tiny data sets written here: the binary
// release, image folders, .tar.gz archives, the decoded-set cache, and the epoch order.
#include <gtest/gtest.h>
#include <stb_image_write.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "framework/core/error.h"
#include "framework/data/cifar10.h"
#include "framework/data/cifar10_binary.h"
#include "framework/data/shuffle.h"
#include "framework/data/tar_reader.h"
#include "kernels/philox.h"
#include "tests/support/error_of.h"
#include "tests/support/tar_builder.h"

namespace convlab {
namespace {

namespace fs = std::filesystem;
using test_support::error_of;

// A fresh folder per test, removed afterwards.
class DataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / fmt::format("convlab-data-{}-{}-{}", getpid(), info->name(),
                                                   std::chrono::steady_clock::now().time_since_epoch().count());
    fs::create_directories(dir_);
    cache_ = dir_ / "cache";
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  fs::path dir_, cache_;
};

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      setenv(name, value, 1);
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

class ScopedCwd {
 public:
  explicit ScopedCwd(const fs::path& dir) : old_(fs::current_path()) { fs::current_path(dir); }
  ~ScopedCwd() { fs::current_path(old_); }

 private:
  fs::path old_;
};

// ---- binary release -------------------------------------------------------------------

const char* const kBatchFiles[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                   "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"};
const int kMarkedRecords[] = {0, 1, 4321, 9999};

uint8_t marked_label(int file, int record) { return static_cast<uint8_t>((file + record) % 10); }
uint8_t marked_pixel(int file, int record, int j) { return static_cast<uint8_t>(file * 31 + record * 7 + j); }

void write_record(const fs::path& file, int64_t record, uint8_t label, const std::vector<uint8_t>& pixels) {
  std::fstream out(file, std::ios::in | std::ios::out | std::ios::binary);
  out.seekp(record * kCifarRecordBytes);
  out.put(static_cast<char>(label));
  out.write(reinterpret_cast<const char*>(pixels.data()), static_cast<std::streamsize>(pixels.size()));
}

// Six batch files of the exact size: zeros (sparse) except a few marked records.
fs::path write_binary_release(const fs::path& dir) {
  fs::create_directories(dir);
  for (int f = 0; f < 6; ++f) {
    const fs::path file = dir / kBatchFiles[f];
    std::ofstream(file, std::ios::binary).close();
    fs::resize_file(file, kCifarBatchBytes);
    for (int record : kMarkedRecords) {
      std::vector<uint8_t> pixels(kCifarImageBytes);
      for (int j = 0; j < kCifarImageBytes; ++j) pixels[j] = marked_pixel(f, record, j);
      write_record(file, record, marked_label(f, record), pixels);
    }
  }
  return dir;
}

TEST_F(DataTest, BinaryReleaseReadsExactPixelsAndLabels) {
  write_binary_release(dir_ / "cifar-10-batches-bin");
  const Cifar10 data = load_cifar10(dir_, cache_);  // the folder above the batches
  ASSERT_EQ(data.train.size(), 50000);
  ASSERT_EQ(data.test.size(), 10000);
  ASSERT_EQ(data.train.images.size(), 50000u * 3072);
  EXPECT_EQ(data.class_names, cifar10_class_names());
  EXPECT_NE(data.source_description.find("binary"), std::string::npos);
  for (int f = 0; f < 6; ++f) {
    const ImageSet& set = f < 5 ? data.train : data.test;
    const int64_t first = f < 5 ? f * 10000 : 0;
    for (int record : kMarkedRecords) {
      const int64_t index = first + record;
      EXPECT_EQ(set.labels[index], marked_label(f, record)) << kBatchFiles[f] << " record " << record;
      for (int j = 0; j < kCifarImageBytes; j += 97)
        ASSERT_EQ(set.image(index)[j], marked_pixel(f, record, j)) << kBatchFiles[f] << " record " << record;
    }
    EXPECT_EQ(set.labels[first + 2], 0);  // an unmarked record
    EXPECT_EQ(set.image(first + 2)[100], 0);
  }
  // The batches folder itself is the same source: same data, now from the cache.
  const Cifar10 again = load_cifar10(dir_ / "cifar-10-batches-bin", cache_);
  EXPECT_EQ(again.train.images, data.train.images);
  EXPECT_EQ(again.test.labels, data.test.labels);
  EXPECT_NE(again.source_description.find("cache"), std::string::npos);
}

TEST_F(DataTest, BinaryShortFileNamesFileAndOffset) {
  const fs::path release = write_binary_release(dir_ / "cifar-10-batches-bin");
  fs::resize_file(release / "data_batch_2.bin", kCifarBatchBytes - 100);
  const std::string message = error_of([&] { load_cifar10(release, cache_); });
  EXPECT_NE(message.find("data_batch_2.bin"), std::string::npos) << message;
  EXPECT_NE(message.find("30729900"), std::string::npos) << message;
}

TEST_F(DataTest, BinaryBadLabelNamesFileAndOffset) {
  const fs::path release = write_binary_release(dir_ / "cifar-10-batches-bin");
  write_record(release / "data_batch_3.bin", 123, 10, std::vector<uint8_t>(kCifarImageBytes, 1));
  const std::string message = error_of([&] { load_cifar10(release, cache_); });
  EXPECT_NE(message.find("data_batch_3.bin"), std::string::npos) << message;
  EXPECT_NE(message.find(std::to_string(123 * kCifarRecordBytes)), std::string::npos) << message;
}

TEST_F(DataTest, BinaryMissingBatchIsNamed) {
  const fs::path release = write_binary_release(dir_ / "cifar-10-batches-bin");
  fs::remove(release / "test_batch.bin");
  const std::string message = error_of([&] { load_cifar10(release, cache_); });
  EXPECT_NE(message.find("test_batch.bin"), std::string::npos) << message;
}

// ---- image folders --------------------------------------------------------------------

// Interleaved (h, w, comp) pixels of image number `seed`.
std::vector<uint8_t> pattern(int seed, int width, int height, int comp) {
  std::vector<uint8_t> pixels(static_cast<size_t>(width) * height * comp);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < comp; ++c)
        pixels[(y * width + x) * comp + c] = static_cast<uint8_t>(seed * 37 + c * 11 + y * 5 + x * 3);
  return pixels;
}

void write_png(const fs::path& file, int seed, int width = 32, int height = 32, int comp = 3) {
  fs::create_directories(file.parent_path());
  const std::vector<uint8_t> pixels = pattern(seed, width, height, comp);
  ASSERT_NE(stbi_write_png(file.c_str(), width, height, comp, pixels.data(), width * comp), 0) << file;
}

// The planar (3, 32, 32) form that a loaded image of `seed` must have.
std::vector<uint8_t> planar_pattern(int seed) {
  const std::vector<uint8_t> pixels = pattern(seed, 32, 32, 3);
  std::vector<uint8_t> planar(kCifarImageBytes);
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 1024; ++i) planar[c * 1024 + i] = pixels[i * 3 + c];
  return planar;
}

struct ExpectedSet {
  std::vector<int> seeds;  // in load order
  std::vector<uint8_t> labels;
};

// Writes train/<class>/ and test/<class>/ with `per_class` images each, files named so that
// creation order and name order differ. `ordered_classes` is the label order loading must give.
std::pair<ExpectedSet, ExpectedSet> write_image_folder(const fs::path& root,
                                                       const std::vector<std::string>& ordered_classes, int per_class) {
  std::pair<ExpectedSet, ExpectedSet> expected;
  int seed = 1;
  for (ExpectedSet* set : {&expected.first, &expected.second}) {
    const std::string split = set == &expected.first ? "train" : "test";
    for (size_t label = 0; label < ordered_classes.size(); ++label) {
      std::vector<std::pair<std::string, int>> files;  // (name, seed) in name order
      for (int i = 0; i < per_class; ++i) files.push_back({fmt::format("{:04}.png", i), seed++});
      for (auto it = files.rbegin(); it != files.rend(); ++it)
        write_png(root / split / ordered_classes[label] / it->first, it->second);
      for (const auto& [name, s] : files) {
        set->seeds.push_back(s);
        set->labels.push_back(static_cast<uint8_t>(label));
      }
    }
  }
  // A file that is not an image is ignored.
  std::ofstream(root / "train" / ordered_classes[0] / "notes.txt") << "not an image\n";
  return expected;
}

void expect_matches(const ImageSet& set, const ExpectedSet& expected) {
  ASSERT_EQ(set.size(), static_cast<int64_t>(expected.seeds.size()));
  EXPECT_EQ(set.labels, expected.labels);
  for (size_t i = 0; i < expected.seeds.size(); ++i) {
    const std::vector<uint8_t> want = planar_pattern(expected.seeds[i]);
    ASSERT_TRUE(std::equal(want.begin(), want.end(), set.image(static_cast<int64_t>(i)))) << "image " << i;
  }
}

TEST_F(DataTest, ImageFolderWithCanonicalClasses) {
  const auto expected = write_image_folder(dir_ / "cifar10-png", cifar10_class_names(), 2);
  const Cifar10 data = load_cifar10(dir_, cache_);  // the folder above cifar10-png/
  EXPECT_EQ(data.class_names, cifar10_class_names());
  expect_matches(data.train, expected.first);
  expect_matches(data.test, expected.second);
  EXPECT_NE(data.source_description.find("cifar10-png"), std::string::npos) << data.source_description;
}

TEST_F(DataTest, ImageFolderWithOtherClassesUsesSortedNames) {
  const std::vector<std::string> sorted = {"apple", "mango", "zebra"};
  const auto expected = write_image_folder(dir_, sorted, 3);
  const Cifar10 data = load_cifar10(dir_, cache_);
  EXPECT_EQ(data.class_names, sorted);
  expect_matches(data.train, expected.first);
  expect_matches(data.test, expected.second);
}

TEST_F(DataTest, ImageFolderRejectsWrongSizeAndChannels) {
  write_image_folder(dir_, {"a", "b"}, 1);
  write_png(dir_ / "train" / "b" / "0005.png", 99, 31, 32, 3);
  std::string message = error_of([&] { load_cifar10(dir_, cache_); });
  EXPECT_NE(message.find("0005.png"), std::string::npos) << message;
  EXPECT_NE(message.find("31x32"), std::string::npos) << message;

  fs::remove(dir_ / "train" / "b" / "0005.png");
  write_png(dir_ / "test" / "a" / "0007.png", 99, 32, 32, 1);  // grey
  message = error_of([&] { load_cifar10(dir_, cache_); });
  EXPECT_NE(message.find("0007.png"), std::string::npos) << message;
  EXPECT_NE(message.find("1 channel"), std::string::npos) << message;
}

TEST_F(DataTest, ImageFolderRejectsTestClassMissingFromTrain) {
  write_image_folder(dir_, {"a", "b"}, 1);
  write_png(dir_ / "test" / "c" / "0000.png", 5);
  const std::string message = error_of([&] { load_cifar10(dir_, cache_); });
  EXPECT_NE(message.find("'c'"), std::string::npos) << message;
}

// ---- archives -------------------------------------------------------------------------

void gz_write(gzFile out, const void* data, size_t size) {
  ASSERT_EQ(gzwrite(out, data, static_cast<unsigned>(size)), static_cast<int>(size));
}

void write_padding(gzFile out, uint64_t size) {
  const std::vector<char> zeros((512 - size % 512) % 512, 0);
  if (!zeros.empty()) gz_write(out, zeros.data(), zeros.size());
}

// One ustar header; names over 100 characters get a GNU long-name entry first.
void write_tar_header(gzFile out, const std::string& name, char type, uint64_t size) {
  if (name.size() > 100) {
    write_tar_header(out, "././@LongLink", 'L', name.size() + 1);
    gz_write(out, name.c_str(), name.size() + 1);
    write_padding(out, name.size() + 1);
  }
  const std::string header = test_support::tar_header(name, type, size);
  gz_write(out, header.data(), header.size());
}

// Packs everything below `dir` into a gzip-compressed tar, names relative to `dir`.
void write_tar_gz(const fs::path& dir, const fs::path& archive) {
  std::vector<fs::path> entries;
  for (const fs::directory_entry& entry : fs::recursive_directory_iterator(dir)) entries.push_back(entry.path());
  std::sort(entries.begin(), entries.end());
  gzFile out = gzopen(archive.c_str(), "wb");
  ASSERT_NE(out, nullptr);
  for (const fs::path& entry : entries) {
    const std::string name = entry.lexically_relative(dir).generic_string();
    if (fs::is_directory(entry)) {
      write_tar_header(out, name + "/", '5', 0);
    } else {
      std::ifstream in(entry, std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      write_tar_header(out, name, '0', bytes.size());
      gz_write(out, bytes.data(), bytes.size());
      write_padding(out, bytes.size());
    }
  }
  const std::vector<char> end(1024, 0);
  gz_write(out, end.data(), end.size());
  ASSERT_EQ(gzclose(out), Z_OK);
}

std::vector<fs::path> matching(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> found;
  if (!fs::exists(dir)) return found;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir))
    if (entry.path().filename().string().rfind(prefix, 0) == 0) found.push_back(entry.path());
  return found;
}

// An image folder one level down, under a name long enough to need GNU long-name entries.
const std::string kLongFolder = "cifar10-png-" + std::string(95, 'x');

TEST_F(DataTest, TarGzLoadsTheSameAsTheFolder) {
  write_image_folder(dir_ / "tree" / kLongFolder, cifar10_class_names(), 1);
  write_tar_gz(dir_ / "tree", dir_ / "images.tar.gz");
  const Cifar10 from_folder = load_cifar10(dir_ / "tree", dir_ / "folder-cache");
  const Cifar10 from_archive = load_cifar10(dir_ / "images.tar.gz", cache_);
  EXPECT_EQ(from_archive.class_names, from_folder.class_names);
  EXPECT_EQ(from_archive.train.images, from_folder.train.images);
  EXPECT_EQ(from_archive.train.labels, from_folder.train.labels);
  EXPECT_EQ(from_archive.test.images, from_folder.test.images);
  EXPECT_EQ(from_archive.test.labels, from_folder.test.labels);
  EXPECT_NE(from_archive.source_description.find("images.tar.gz"), std::string::npos);

  const std::vector<fs::path> extracted = matching(cache_, "extracted-");
  ASSERT_EQ(extracted.size(), 1u);
  EXPECT_TRUE(fs::exists(extracted[0] / kExtractionCompleteMarker));
  EXPECT_TRUE(fs::exists(extracted[0] / kLongFolder / "train" / "truck" / "0000.png"));
}

TEST_F(DataTest, CacheIsWrittenAndReusedWithoutReextracting) {
  write_image_folder(dir_ / "tree" / "cifar10-png", cifar10_class_names(), 1);
  write_tar_gz(dir_ / "tree", dir_ / "images.tgz");
  const Cifar10 first = load_cifar10(dir_ / "images.tgz", cache_);
  ASSERT_EQ(matching(cache_, "cifar10-").size(), 1u);
  ASSERT_EQ(matching(cache_, "extracted-").size(), 1u);
  EXPECT_TRUE(matching(cache_, "cifar10-")[0].string().ends_with(".bin"));

  // With the extraction gone, only the cache can answer; it must not extract again.
  fs::remove_all(matching(cache_, "extracted-")[0]);
  const Cifar10 second = load_cifar10(dir_ / "images.tgz", cache_);
  EXPECT_TRUE(matching(cache_, "extracted-").empty());
  EXPECT_EQ(second.train.images, first.train.images);
  EXPECT_EQ(second.test.labels, first.test.labels);
  EXPECT_EQ(second.class_names, first.class_names);
  EXPECT_NE(second.source_description.find("cache"), std::string::npos);
}

// Flips one byte in the middle of `file`.
void corrupt_middle(const fs::path& file) {
  const auto size = static_cast<std::streamoff>(fs::file_size(file));
  std::fstream stream(file, std::ios::in | std::ios::out | std::ios::binary);
  stream.seekg(size / 2);
  const char byte = static_cast<char>(stream.get());
  stream.seekp(size / 2);
  stream.put(static_cast<char>(byte ^ 0x5a));
}

TEST_F(DataTest, CorruptCacheAndDamagedExtractionDecodeWhatTheArchiveHolds) {
  const auto expected = write_image_folder(dir_ / "tree" / "cifar10-png", cifar10_class_names(), 2);
  write_tar_gz(dir_ / "tree", dir_ / "images.tar.gz");
  load_cifar10(dir_ / "images.tar.gz", cache_);
  const fs::path cache_file = matching(cache_, "cifar10-").at(0);
  const fs::path extracted = matching(cache_, "extracted-").at(0) / "cifar10-png";

  // A corrupt cache sends the load back to the extraction, which has lost an image and had
  // another cut short: it must be extracted again, not decoded (and cached) as it is.
  const std::vector<std::function<void()>> damages = {
      [&] { fs::remove(extracted / "test" / "cat" / "0001.png"); },
      [&] { fs::resize_file(extracted / "train" / "dog" / "0000.png", 40); },
      [&] {
        fs::remove(extracted / "test" / "cat" / "0001.png");
        fs::resize_file(extracted / "train" / "dog" / "0000.png", 40);
      },
  };
  for (size_t i = 0; i < damages.size(); ++i) {
    corrupt_middle(cache_file);
    damages[i]();
    ::testing::internal::CaptureStderr();
    const Cifar10 data = load_cifar10(dir_ / "images.tar.gz", cache_);
    const std::string warnings = ::testing::internal::GetCapturedStderr();
    EXPECT_NE(warnings.find("checksum"), std::string::npos) << warnings;
    EXPECT_NE(warnings.find("no longer matches"), std::string::npos) << warnings;
    expect_matches(data.train, expected.first);
    expect_matches(data.test, expected.second);

    // What was cached is the whole set, read back silently.
    ::testing::internal::CaptureStderr();
    const Cifar10 cached = load_cifar10(dir_ / "images.tar.gz", cache_);
    EXPECT_EQ(::testing::internal::GetCapturedStderr(), "") << i;
    EXPECT_NE(cached.source_description.find("cache"), std::string::npos) << i;
    expect_matches(cached.train, expected.first);
    expect_matches(cached.test, expected.second);
  }
}

TEST_F(DataTest, UnwritableCacheFolderIsNamedWithTheFlagToChangeIt) {
  const auto expected = write_image_folder(dir_ / "data", {"a", "b"}, 1);
  std::ofstream(dir_ / "a-file") << "not a folder";
  for (const fs::path& cache : {dir_ / "a-file", dir_ / "a-file" / "cache"}) {
    // A folder source loads without a cache, saying so and how to get one.
    ::testing::internal::CaptureStderr();
    const Cifar10 data = load_cifar10(dir_ / "data", cache);
    const std::string warning = ::testing::internal::GetCapturedStderr();
    expect_matches(data.train, expected.first);
    for (const std::string& part : {(dir_ / "a-file").string(), std::string("going on without it"),
                                    std::string("--cache-dir"), std::string("$CONVLAB_CACHE_DIR")})
      EXPECT_NE(warning.find(part), std::string::npos) << part << " in: " << warning;

    // An archive must be extracted there: an error, with the same advice.
    write_tar_gz(dir_ / "data", dir_ / "images.tar.gz");
    const std::string message = error_of([&] { load_cifar10(dir_ / "images.tar.gz", cache); });
    for (const std::string& part : {cache.string(), std::string("not writable"), std::string("images.tar.gz"),
                                    std::string("--cache-dir"), std::string("$CONVLAB_CACHE_DIR")})
      EXPECT_NE(message.find(part), std::string::npos) << part << " in: " << message;
  }
  EXPECT_EQ(std::ifstream(dir_ / "a-file").rdbuf()->sgetc(), 'n');  // left as it was
}

TEST_F(DataTest, ExtractionIsReusedWhenComplete) {
  write_image_folder(dir_ / "tree", {"a", "b"}, 1);
  write_tar_gz(dir_ / "tree", dir_ / "images.tar.gz");
  EXPECT_TRUE(extract_tar_once(dir_ / "images.tar.gz", dir_ / "out"));
  EXPECT_FALSE(extract_tar_once(dir_ / "images.tar.gz", dir_ / "out"));
  // An extraction without its marker is incomplete and is redone.
  fs::remove(dir_ / "out" / kExtractionCompleteMarker);
  fs::remove(dir_ / "out" / "train" / "a" / "0000.png");
  EXPECT_TRUE(extract_tar_once(dir_ / "images.tar.gz", dir_ / "out"));
  EXPECT_TRUE(fs::exists(dir_ / "out" / "train" / "a" / "0000.png"));
}

TEST_F(DataTest, CacheIsInvalidatedWhenASourceFileChanges) {
  const auto expected = write_image_folder(dir_, {"a", "b"}, 2);
  const Cifar10 first = load_cifar10(dir_, cache_);
  expect_matches(first.train, expected.first);

  const fs::path changed = dir_ / "train" / "b" / "0001.png";
  write_png(changed, 1000);
  fs::last_write_time(changed, fs::last_write_time(changed) + std::chrono::seconds(10));
  const Cifar10 second = load_cifar10(dir_, cache_);
  ExpectedSet want = expected.first;
  want.seeds[3] = 1000;  // train: a/0000, a/0001, b/0000, b/0001
  expect_matches(second.train, want);
  EXPECT_EQ(second.source_description.find("cache"), std::string::npos);
  EXPECT_EQ(matching(cache_, "cifar10-").size(), 2u);
}

TEST_F(DataTest, CorruptOrTruncatedCacheIsIgnored) {
  const auto expected = write_image_folder(dir_, {"a", "b"}, 2);
  load_cifar10(dir_, cache_);
  const fs::path cache_file = matching(cache_, "cifar10-").at(0);
  const uint64_t size = fs::file_size(cache_file);

  {  // one flipped pixel byte
    std::fstream file(cache_file, std::ios::in | std::ios::out | std::ios::binary);
    file.seekg(static_cast<std::streamoff>(size / 2));
    const char byte = static_cast<char>(file.get());
    file.seekp(static_cast<std::streamoff>(size / 2));
    file.put(static_cast<char>(byte ^ 0x5a));
  }
  ::testing::internal::CaptureStderr();
  Cifar10 data = load_cifar10(dir_, cache_);
  std::string warning = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(warning.find("checksum"), std::string::npos) << warning;
  expect_matches(data.train, expected.first);
  expect_matches(data.test, expected.second);
  EXPECT_EQ(fs::file_size(cache_file), size);  // rewritten

  fs::resize_file(cache_file, size - 1000);
  ::testing::internal::CaptureStderr();
  data = load_cifar10(dir_, cache_);
  warning = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(warning.find("truncated"), std::string::npos) << warning;
  expect_matches(data.train, expected.first);

  // And the rewritten cache is trusted again, silently.
  ::testing::internal::CaptureStderr();
  data = load_cifar10(dir_, cache_);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  EXPECT_NE(data.source_description.find("cache"), std::string::npos);
  expect_matches(data.test, expected.second);
}

TEST_F(DataTest, CorruptArchiveNamesTheArchive) {
  std::ofstream(dir_ / "broken.tar.gz", std::ios::binary) << std::string(2000, 'z');
  const std::string message = error_of([&] { load_cifar10(dir_ / "broken.tar.gz", cache_); });
  EXPECT_NE(message.find("broken.tar.gz"), std::string::npos) << message;
  EXPECT_TRUE(matching(cache_, "extracted-").empty());  // no half extraction left behind
}

// ---- finding the data -----------------------------------------------------------------

TEST_F(DataTest, MissingSourceSaysWhatWasLookedForAndHowToGetIt) {
  std::string message = error_of([&] { load_cifar10(dir_ / "nowhere", cache_); });
  EXPECT_NE(message.find("nowhere"), std::string::npos) << message;
  EXPECT_NE(message.find("fetch-cifar10.sh"), std::string::npos) << message;

  fs::create_directories(dir_ / "empty");
  message = error_of([&] { load_cifar10(dir_ / "empty", cache_); });
  EXPECT_NE(message.find("data_batch_1.bin"), std::string::npos) << message;
  EXPECT_NE(message.find("train/<class>"), std::string::npos) << message;

  message = error_of([&] { find_cifar10(dir_ / "nowhere"); });
  EXPECT_NE(message.find((dir_ / "nowhere").string()), std::string::npos) << message;
  EXPECT_NE(message.find("fetch-cifar10.sh"), std::string::npos) << message;
}

TEST_F(DataTest, FindListsEveryPlaceItLooked) {
  ScopedEnv no_env("CIFAR10_DIR", nullptr);
  fs::create_directories(dir_ / "work");
  ScopedCwd cwd(dir_ / "work");
  const std::string message = error_of([&] { find_cifar10(std::nullopt); });
  for (const char* place : {"data/cifar-10-batches-bin", "data/cifar10-jpg", "data/cifar10-jpg.tar.gz",
                            "data/cifar-10-binary.tar.gz", "shared/data/cifar10-jpg.tar.gz", "fetch-cifar10.sh"})
    EXPECT_NE(message.find(place), std::string::npos) << place << " missing from: " << message;

  fs::create_directories(dir_ / "shared" / "data");
  std::ofstream(dir_ / "shared" / "data" / "cifar10-jpg.tar.gz") << "x";
  EXPECT_EQ(fs::canonical(find_cifar10(std::nullopt)), fs::canonical(dir_ / "shared/data/cifar10-jpg.tar.gz"));
  fs::create_directories(dir_ / "work" / "data" / "cifar10-jpg");
  EXPECT_EQ(fs::canonical(find_cifar10(std::nullopt)), fs::canonical(dir_ / "work/data/cifar10-jpg"));
}

TEST_F(DataTest, FindPrefersTheGivenPathThenTheEnvironment) {
  ScopedEnv env("CIFAR10_DIR", (dir_ / "from-env").c_str());
  EXPECT_EQ(cifar10_search_paths(dir_ / "given"), std::vector<fs::path>{dir_ / "given"});
  EXPECT_EQ(cifar10_search_paths(std::nullopt), std::vector<fs::path>{dir_ / "from-env"});
  const std::string message = error_of([&] { find_cifar10(std::nullopt); });
  EXPECT_NE(message.find("from-env"), std::string::npos) << message;
  fs::create_directories(dir_ / "from-env");
  EXPECT_EQ(find_cifar10(std::nullopt), dir_ / "from-env");
}

TEST(DefaultCacheDir, FollowsTheEnvironment) {
  ScopedEnv home("HOME", "/home/someone");
  ScopedEnv xdg("XDG_CACHE_HOME", nullptr);
  ScopedEnv own("CONVLAB_CACHE_DIR", nullptr);
  EXPECT_EQ(default_cache_dir(), fs::path("/home/someone/.cache/convlab"));
  {
    ScopedEnv xdg_set("XDG_CACHE_HOME", "/xdg");
    EXPECT_EQ(default_cache_dir(), fs::path("/xdg/convlab"));
    ScopedEnv own_set("CONVLAB_CACHE_DIR", "/mine");
    EXPECT_EQ(default_cache_dir(), fs::path("/mine"));
  }
}

// ---- epoch order ----------------------------------------------------------------------

TEST(EpochOrder, IsAPermutation) {
  for (int64_t n : {0, 1, 2, 7, 1000, 50000}) {
    std::vector<int32_t> order = epoch_order(n, 42, 3);
    ASSERT_EQ(static_cast<int64_t>(order.size()), n);
    std::sort(order.begin(), order.end());
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(order[i], i) << "n = " << n;
  }
}

TEST(EpochOrder, IsAFunctionOfSeedAndEpoch) {
  EXPECT_EQ(epoch_order(50000, 7, 11), epoch_order(50000, 7, 11));
  EXPECT_NE(epoch_order(50000, 7, 11), epoch_order(50000, 7, 12));
  EXPECT_NE(epoch_order(50000, 7, 11), epoch_order(50000, 8, 11));
  // Shuffled, not near the identity.
  const std::vector<int32_t> order = epoch_order(50000, 7, 11);
  int64_t in_place = 0;
  for (int64_t i = 0; i < 50000; ++i) in_place += order[i] == i;
  EXPECT_LT(in_place, 20);
}

TEST(EpochOrder, MatchesTheSortedKeysDefinition) {
  const int64_t n = 1000;
  const kernels::RandomKey key{5, random_stream::kShuffle, 2};
  std::vector<std::pair<uint32_t, int32_t>> keys;
  for (int32_t i = 0; i < n; ++i) keys.push_back({kernels::random_u32(key, static_cast<uint64_t>(i)), i});
  std::sort(keys.begin(), keys.end());
  const std::vector<int32_t> order = epoch_order(n, 5, 2);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(order[i], keys[i].second);
}

}  // namespace
}  // namespace convlab
