// Archive extraction on archives built in memory: what a well-formed archive must have (the
// tar end-of-archive blocks, the gzip trailer), where corruption is reported, and the limits
// that stop a decompression bomb; and how a reused extraction is checked against the listing
// taken when it completed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "framework/core/error.h"
#include "framework/data/archive_stream.h"
#include "framework/data/extraction_listing.h"
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

// ---- reusing an extraction -----------------------------------------------------------

// Writes kFiles as a .tar.gz file and returns its path.
fs::path write_archive(const fs::path& dir) {
  const fs::path archive = dir / "set.tar.gz";
  std::ofstream(archive, std::ios::binary) << gzip_bytes(tar_bytes(kFiles));
  return archive;
}

// extract_tar_once's warning when it extracts `out` again, or "" when it reuses it silently.
std::string reextraction_warning(const fs::path& archive, const fs::path& out, bool expect_extracted = true) {
  ::testing::internal::CaptureStderr();
  const bool extracted = extract_tar_once(archive, out);
  const std::string warning = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(extracted, expect_extracted) << warning;
  return warning;
}

TEST_F(Archives, ListingTextRoundTripsAndRefusesDamage) {
  ExtractionListing listing;
  listing["set"] = {ListedEntry::folder, 0, 0};
  listing["set/a name with spaces\nand a line break.png"] = {ListedEntry::file, 1234, 0xdeadbeef};
  listing["set/empty"] = {ListedEntry::file, 0, 0};
  listing["set/link"] = {ListedEntry::other, 0, 0};
  const std::string text = listing_text(listing, "/data/set.tar.gz");
  EXPECT_EQ(parse_listing_text(text), listing);

  EXPECT_EQ(parse_listing_text("/data/set.tar.gz\n"), std::nullopt);  // an older convlab's marker
  EXPECT_EQ(parse_listing_text(text.substr(0, text.size() - 1)), std::nullopt);
  std::string flipped = text;
  flipped[flipped.find("1234")] = '2';  // 2234 bytes: the checksum no longer matches
  EXPECT_EQ(parse_listing_text(flipped), std::nullopt);
  EXPECT_EQ(parse_listing_text(""), std::nullopt);
}

TEST_F(Archives, ListingDifferenceNamesWhatChanged) {
  ExtractionListing expected;
  expected["a"] = {ListedEntry::folder, 0, 0};
  expected["a/1.jpg"] = {ListedEntry::file, 10, 1};
  expected["a/2.jpg"] = {ListedEntry::file, 20, 2};
  expected["a/3.jpg"] = {ListedEntry::file, 30, 3};
  EXPECT_EQ(listing_difference(expected, expected), std::nullopt);

  ExtractionListing found = expected;
  found.erase("a/1.jpg");
  found["a/2.jpg"].size = 19;
  found["a/3.jpg"].crc32 = 4;
  found["a/4.jpg"] = {ListedEntry::file, 40, 4};
  const std::optional<std::string> difference = listing_difference(expected, found);
  ASSERT_TRUE(difference.has_value());
  EXPECT_NE(difference->find("a/1.jpg is missing"), std::string::npos) << *difference;
  EXPECT_NE(difference->find("a/2.jpg is 19 bytes, the archive's is 20 bytes"), std::string::npos) << *difference;
  EXPECT_NE(difference->find("a/3.jpg differs from the archive's"), std::string::npos) << *difference;
  EXPECT_NE(difference->find("4 differences in all"), std::string::npos) << *difference;
}

TEST_F(Archives, ReusedExtractionMustMatchItsListing) {
  const fs::path archive = write_archive(dir_);
  const fs::path out = dir_ / "out";
  EXPECT_EQ(reextraction_warning(archive, out), "");
  EXPECT_EQ(reextraction_warning(archive, out, false), "");  // intact: reused, silently
  EXPECT_EQ(extraction_damage(out), std::nullopt);

  // The quick check (names and sizes, no file read) misses what only the contents tell.
  const fs::path big = out / "set/train/a/0.txt";
  std::ofstream(big) << std::string(700, 'y');
  EXPECT_EQ(extraction_damage(out, /*read_files=*/false), std::nullopt);
  EXPECT_NE(extraction_damage(out).value_or("").find("0.txt differs"), std::string::npos);
  fs::remove(out / "set/train/b/1.txt");
  EXPECT_NE(extraction_damage(out, false).value_or("").find("1.txt is missing"), std::string::npos);
  EXPECT_NE(reextraction_warning(archive, out), "");

  // Each kind of damage is noticed, named, and repaired by extracting again.
  const std::vector<std::pair<std::string, std::function<void()>>> damages = {
      {"set/train/a/0.txt is missing", [&] { fs::remove(big); }},
      {"set/train/a/0.txt is 100 bytes, the archive's is 700 bytes", [&] { fs::resize_file(big, 100); }},
      {"set/train/a/0.txt differs from the archive's", [&] { std::ofstream(big) << std::string(700, 'x'); }},
      {"set/test/a/extra.txt is not in the archive", [&] { std::ofstream(out / "set/test/a/extra.txt") << "x"; }},
      {"set/train/c is not in the archive", [&] { fs::create_directories(out / "set/train/c"); }},
      {"set/train/b/1.txt is neither a file nor a folder",
       [&] {
         fs::remove(out / "set/train/b/1.txt");
         fs::create_symlink(big, out / "set/train/b/1.txt");
       }},
      {"no readable listing", [&] { std::ofstream(out / kExtractionCompleteMarker) << archive.string() << "\n"; }},
  };
  for (const auto& [what, damage] : damages) {
    damage();
    const std::string warning = reextraction_warning(archive, out);
    EXPECT_NE(warning.find(what), std::string::npos) << warning;
    EXPECT_NE(warning.find("extracting it again"), std::string::npos) << warning;
    EXPECT_EQ(read_all(big), std::string(700, 'a')) << what;
    EXPECT_EQ(read_all(out / "set/train/b/1.txt"), "b") << what;
    EXPECT_FALSE(fs::exists(out / "set/test/a/extra.txt")) << what;
    EXPECT_FALSE(fs::exists(out / "set/train/c")) << what;
    EXPECT_EQ(extraction_damage(out), std::nullopt) << what;
  }
  // Nothing is left beside it: no staging folder, no replaced folder.
  std::vector<std::string> names;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir_)) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"out", "set.tar.gz"}));
}

}  // namespace
}  // namespace convlab
