// Archive extraction on archives built in memory: what a well-formed archive must have (the
// tar end-of-archive blocks, the gzip trailer), where corruption is reported, and the limits
// that stop a decompression bomb.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "framework/core/error.h"
#include "framework/data/archive_stream.h"
#include "framework/data/tar_reader.h"
#include "tests/support/scratch_dir.h"
#include "tests/support/source_paths.h"
#include "tests/support/tar_builder.h"

namespace convlab {
namespace {

namespace fs = std::filesystem;
using test_support::gzip_bytes;
using test_support::tar_bytes;
using test_support::tar_header;

class Archives : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test_support::fresh_test_dir("archives");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // The message of the Error extracting `bytes` throws, or "" when it extracts.
  std::string extract_error(const std::string& bytes, const ExtractLimits& limits = {}) {
    try {
      extract_tar_bytes(bytes.data(), bytes.size(), "test.tar.gz", dir_ / "out", limits);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  fs::path dir_;
};

const std::vector<std::pair<std::string, std::string>> kFiles = {
    {"set/train/a/0.txt", std::string(700, 'a')}, {"set/train/b/1.txt", "b"}, {"set/test/a/2.txt", "cc"}};

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST_F(Archives, ExtractsGzipAndPlainTarsAndConcatenatedMembers) {
  const std::string tar = tar_bytes(kFiles);
  for (const std::string& bytes : {gzip_bytes(tar), tar, gzip_bytes(tar.substr(0, 1000)) + gzip_bytes(tar.substr(1000)),
                                   gzip_bytes(tar) + std::string(100, '\0')}) {
    fs::remove_all(dir_ / "out");
    EXPECT_EQ(extract_error(bytes), "");
    EXPECT_EQ(read_all(dir_ / "out/set/train/a/0.txt"), std::string(700, 'a'));
    EXPECT_EQ(read_all(dir_ / "out/set/test/a/2.txt"), "cc");
  }
}

TEST_F(Archives, ArchiveCutAtAnEntryBoundaryIsTruncated) {
  // Two of three entries, no end-of-archive blocks, in a well-formed gzip file: once taken
  // for a smaller data set.
  const std::string tar = tar_bytes(kFiles, /*end_blocks=*/false);
  const std::string cut = tar.substr(0, tar.size() - 1024);
  for (const std::string& bytes : {gzip_bytes(cut), cut}) {
    const std::string message = extract_error(bytes);
    EXPECT_NE(message.find("test.tar.gz is truncated"), std::string::npos) << message;
    EXPECT_NE(message.find("end-of-archive"), std::string::npos) << message;
  }
  const std::string one_block = tar + std::string(512, '\0');
  EXPECT_NE(extract_error(gzip_bytes(one_block)).find("one zero block, not two"), std::string::npos)
      << extract_error(gzip_bytes(one_block));
}

TEST_F(Archives, GzipWithoutItsTrailerIsTruncated) {
  const std::string gz = gzip_bytes(tar_bytes(kFiles));
  for (size_t cut : {size_t{8}, size_t{4}, gz.size() / 2}) {
    const std::string message = extract_error(gz.substr(0, gz.size() - cut));
    EXPECT_NE(message.find("test.tar.gz is truncated: the gzip data end at compressed byte offset"), std::string::npos)
        << message;
  }
}

TEST_F(Archives, ChecksumErrorNamesTheRealOffset) {
  std::string gz = gzip_bytes(tar_bytes(kFiles));
  gz[gz.size() - 8] ^= 0x55;  // the CRC-32 in the trailer
  const std::string message = extract_error(gz);
  EXPECT_NE(message.find("incorrect data check"), std::string::npos) << message;
  // The trailer is the file's last 8 bytes; zlib has read the CRC when it compares.
  EXPECT_NE(message.find(fmt::format("compressed byte offset {}", gz.size() - 4)), std::string::npos) << message;
  EXPECT_NE(message.find(fmt::format("uncompressed byte offset {}", tar_bytes(kFiles).size())), std::string::npos)
      << message;
}

TEST_F(Archives, CorruptDataAndTrailingBytesAreErrors) {
  std::string gz = gzip_bytes(tar_bytes(kFiles));
  std::string corrupt = gz;
  corrupt[20] ^= 0xff;
  EXPECT_NE(extract_error(corrupt).find("test.tar.gz"), std::string::npos);
  EXPECT_NE(extract_error(gz + "junk").find("unexpected bytes after the gzip stream at compressed byte offset " +
                                            std::to_string(gz.size())),
            std::string::npos)
      << extract_error(gz + "junk");
}

TEST_F(Archives, MalformedPaxRecordsAreErrorsNotHangs) {
  // Found by the tar fuzzer: a record length of 171 digits wrapped the reader's position
  // around to 0, forever.
  const std::string hang =
      read_all(fs::path(test_support::source_dir()) / "tests/fuzz/corpus/tar/pax_record_length_overflow_hang.tar.gz");
  ASSERT_FALSE(hang.empty());
  EXPECT_NE(extract_error(hang).find("malformed pax record"), std::string::npos) << extract_error(hang);
  for (const std::string& records : {std::string("1 5555\n"), std::string("99 path=a\n"), std::string("x path=a\n"),
                                     std::string("13 path=abc\n"), std::string("12 path=abcX")}) {
    const std::string tar = tar_header("pax", 'x', records.size()) + records +
                            std::string((512 - records.size() % 512) % 512, '\0') + tar_bytes({{"f", "data"}});
    EXPECT_NE(extract_error(gzip_bytes(tar)).find("malformed pax record"), std::string::npos) << records;
  }
  // A good one names the next entry.
  const std::string records = "15 path=long/b\n";
  fs::remove_all(dir_ / "out");
  EXPECT_EQ(extract_error(gzip_bytes(tar_header("pax", 'x', records.size()) + records + std::string(512 - 15, '\0') +
                                     tar_bytes({{"short", "data"}}))),
            "");
  EXPECT_EQ(read_all(dir_ / "out/long/b"), "data");
}

TEST_F(Archives, ExtractionStopsAtItsLimits) {
  // One entry that claims 2 GiB: refused before a byte of it is written.
  const std::string bomb = gzip_bytes(tar_header("set/big.bin", '0', 2ull << 30) + std::string(1 << 20, '\0'));
  std::string message = extract_error(bomb);
  EXPECT_NE(message.find("entry 'set/big.bin' (2147483648 bytes) would take the extraction past its limit of 1024 MB"),
            std::string::npos)
      << message;
  EXPECT_FALSE(fs::exists(dir_ / "out/set/big.bin"));

  // Many small entries: the total is capped.
  std::vector<std::pair<std::string, std::string>> many;
  for (int i = 0; i < 200; ++i) many.push_back({fmt::format("f/{}.bin", i), std::string(1000, 'x')});
  ExtractLimits small;
  small.max_bytes = 64 << 10;
  message = extract_error(gzip_bytes(tar_bytes(many)), small);
  EXPECT_NE(message.find("past its limit of 0 MB"), std::string::npos) << message;

  ExtractLimits few;
  few.max_entries = 2;
  EXPECT_NE(extract_error(gzip_bytes(tar_bytes(kFiles)), few).find("more than 2 entries"), std::string::npos);
}

TEST_F(Archives, FreeSpaceIsCheckedFirst) {
  ExtractLimits greedy;
  greedy.free_space_margin = uint64_t{1} << 62;  // more than any disk has
  const std::string message = extract_error(gzip_bytes(tar_bytes(kFiles)), greedy);
  EXPECT_NE(message.find("cannot extract test.tar.gz into"), std::string::npos) << message;
  EXPECT_NE(message.find("MB are free there"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(dir_ / "out"));
}

TEST_F(Archives, StreamReportsItsSizeHint) {
  const std::string tar = tar_bytes(kFiles);
  const std::string gz = gzip_bytes(tar);
  ArchiveStream compressed(gz.data(), gz.size(), "a.tar.gz");
  EXPECT_TRUE(compressed.compressed());
  EXPECT_EQ(compressed.size_hint(), tar.size());
  ArchiveStream plain(tar.data(), tar.size(), "a.tar");
  EXPECT_FALSE(plain.compressed());
  EXPECT_EQ(plain.size_hint(), tar.size());
  std::string back(tar.size() + 10, '\0');
  EXPECT_EQ(compressed.read(back.data(), back.size()), tar.size());
  EXPECT_EQ(back.substr(0, tar.size()), tar);
  EXPECT_EQ(compressed.offset(), tar.size());
}

}  // namespace
}  // namespace convlab
