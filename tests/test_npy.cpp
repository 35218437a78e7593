// .npy reading and writing: round trips of every dtype, headers byte-for-byte as numpy.save
// writes them, version 2.0 headers, clear errors for files we cannot read, and the CRC-32 that
// the streaming writer keeps for export manifests.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "framework/core/error.h"
#include "framework/io/npy.h"
#include "framework/io/file_checksum.h"
#include "framework/io/npy_stream.h"
#include "tests/support/source_paths.h"

namespace convlab {
namespace {

namespace fs = std::filesystem;

class NpyTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("convlab_npy_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path file(const std::string& name) const { return dir_ / name; }

  static std::string read_bytes(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static void write_bytes(const fs::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  // The message of the Error that reading path throws ("" if none).
  static std::string read_error(const fs::path& path) {
    try {
      read_npy(path);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }

  fs::path dir_;
};

// What numpy 2.x writes for np.save(f, np.zeros((2, 3), np.float32)): the dict, 20 spaces of
// room for the first axis to grow to 21 digits, padding to 128 bytes, '\n'.
std::string numpy_header_f4_2x3() {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  std::string h = std::string("\x93NUMPY\x01\x00", 8) + std::string("\x76\x00", 2) + dict;
  h += std::string(128 - 1 - h.size(), ' ');
  return h + "\n";
}

TEST_F(NpyTest, HeaderMatchesNumpyByteForByte) {
  const std::string expected = numpy_header_f4_2x3();
  ASSERT_EQ(expected.size(), 128u);
  EXPECT_EQ(npy_header(DType::f32, {2, 3}), expected);

  const std::vector<float> values = {1, 2, 3, 4, 5, 6};
  write_npy(file("a.npy"), {2, 3}, values);
  const std::string bytes = read_bytes(file("a.npy"));
  ASSERT_EQ(bytes.size(), 128u + 24u);
  EXPECT_EQ(bytes.substr(0, 128), expected);
  EXPECT_EQ(std::memcmp(bytes.data() + 128, values.data(), 24), 0);
  EXPECT_FALSE(fs::exists(file("a.npy.tmp")));

  // A 0-d array has no axis to grow: np.save(f, np.uint8(7)) and a 1-d int32 array.
  const std::string scalar = npy_header(DType::u8, {});
  EXPECT_EQ(scalar.substr(10, 56), "{'descr': '|u1', 'fortran_order': False, 'shape': (), } ");
  EXPECT_EQ(scalar.size(), 128u);
  const std::string vec = npy_header(DType::i32, {7});
  EXPECT_EQ(vec.substr(10, 58), "{'descr': '<i4', 'fortran_order': False, 'shape': (7,), } ");
  for (const std::string& h : {scalar, vec, npy_header(DType::f64, {1000000, 3, 2, 1})}) {
    EXPECT_EQ(h.size() % 64, 0u);
    EXPECT_EQ(h.back(), '\n');
    const size_t length = static_cast<uint8_t>(h[8]) | (static_cast<size_t>(static_cast<uint8_t>(h[9])) << 8);
    EXPECT_EQ(length + 10, h.size());
  }
}

TEST_F(NpyTest, RoundTripEveryDtype) {
  const std::vector<float> f32 = {1.5f, -2.25f, 3e-8f, 4e30f, 0.0f, -0.0f};
  write_npy(file("f32.npy"), {2, 3}, f32);
  const NpyArray a = read_npy(file("f32.npy"));
  EXPECT_EQ(a.dtype, DType::f32);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.values<float>(), f32);
  EXPECT_NO_THROW(a.check_rank(2));
  EXPECT_THROW(a.check_rank(3), Error);
  EXPECT_THROW(a.values<double>(), Error);

  std::vector<double> f64(2 * 3 * 4);
  for (size_t i = 0; i < f64.size(); ++i) f64[i] = 1.0 / (1.0 + static_cast<double>(i));
  write_npy(file("f64.npy"), {2, 3, 4}, f64);
  const NpyArray b = read_npy(file("f64.npy"));
  EXPECT_EQ(b.dtype, DType::f64);
  EXPECT_EQ(b.shape, (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(b.values<double>(), f64);

  const std::vector<int32_t> i32 = {-7, 0, 2147483647, -2147483647 - 1, 42};
  write_npy(file("i32.npy"), {5}, i32);
  const NpyArray c = read_npy(file("i32.npy"));
  EXPECT_EQ(c.dtype, DType::i32);
  EXPECT_EQ(c.values<int32_t>(), i32);

  const std::vector<uint8_t> u8 = {0, 1, 254, 255};
  write_npy(file("u8.npy"), {2, 1, 2}, u8);
  EXPECT_EQ(read_npy(file("u8.npy")).values<uint8_t>(), u8);

  write_npy(file("scalar.npy"), {}, std::vector<double>{3.25});
  const NpyArray s = read_npy(file("scalar.npy"));
  EXPECT_TRUE(s.shape.empty());
  EXPECT_EQ(s.values<double>(), std::vector<double>{3.25});

  write_npy(file("empty.npy"), {0, 5}, std::vector<float>{});
  const NpyArray e = read_npy(file("empty.npy"));
  EXPECT_EQ(e.shape, (std::vector<int64_t>{0, 5}));
  EXPECT_EQ(e.numel(), 0);

  // Overwriting replaces the old content.
  write_npy(file("f32.npy"), {1, 1}, std::vector<float>{9.0f});
  EXPECT_EQ(read_npy(file("f32.npy")).values<float>(), std::vector<float>{9.0f});
  EXPECT_THROW(write_npy(file("bad.npy"), {2, 2}, std::vector<float>{1, 2, 3}), Error);
  EXPECT_THROW(write_npy(file("rank65.npy"), std::vector<int64_t>(65, 1), std::vector<float>{1}), Error);
}

TEST_F(NpyTest, ReadsVersion2HeadersAndDoubleQuotes) {
  const std::string dict = "{\"descr\": \"<f8\", \"shape\": (2,), \"fortran_order\": False}";
  std::string bytes = std::string("\x93NUMPY\x02\x00", 8);
  const uint32_t length = static_cast<uint32_t>(dict.size() + 1);
  for (int b = 0; b < 4; ++b) bytes += static_cast<char>((length >> (8 * b)) & 0xFF);
  bytes += dict + "\n";
  const double values[2] = {0.5, -8.0};
  bytes.append(reinterpret_cast<const char*>(values), sizeof(values));
  write_bytes(file("v2.npy"), bytes);
  const NpyArray a = read_npy(file("v2.npy"));
  EXPECT_EQ(a.shape, std::vector<int64_t>{2});
  EXPECT_EQ(a.values<double>(), (std::vector<double>{0.5, -8.0}));
}

TEST_F(NpyTest, ShapesWhoseElementCountOverflowsAreRefused) {
  // Found by the .npy fuzzer: (225321688200, 55555554, ..., 0) of |u1 holds 0 bytes, but its
  // element count overflowed an int64 on the way.
  const fs::path input =
      fs::path(test_support::source_dir()) / "tests/fuzz/corpus/npy/npy_shape_product_overflows_int64_with_a_zero.npy";
  const std::string message = read_error(input);
  EXPECT_NE(message.find("is too large"), std::string::npos) << message;
  EXPECT_NE(message.find(input.string()), std::string::npos) << message;
}

TEST_F(NpyTest, ClearErrors) {
  const std::vector<float> values = {1, 2, 3, 4, 5, 6};
  write_npy(file("good.npy"), {2, 3}, values);
  const std::string good = read_bytes(file("good.npy"));

  auto expect_error = [&](const std::string& name, const std::string& bytes, const std::string& what) {
    write_bytes(file(name), bytes);
    const std::string message = read_error(file(name));
    EXPECT_NE(message.find(what), std::string::npos) << name << ": " << message;
    EXPECT_NE(message.find(name), std::string::npos) << "the message names the file: " << message;
  };
  expect_error("magic.npy", "\x92" + good.substr(1), "not a .npy file");
  expect_error("short.npy", "\x93NU", "not a .npy file");
  expect_error("version.npy", good.substr(0, 6) + "\x04" + good.substr(7), "version 4.0");

  // Header edits of the same length keep the file otherwise valid.
  auto edit = [&](const std::string& from, const std::string& to) {
    std::string b = good;
    b.replace(b.find(from), from.size(), to);
    return b;
  };
  expect_error("big_endian.npy", edit("'<f4'", "'>f4'"), "unsupported .npy dtype '>f4'");
  expect_error("half.npy", edit("'<f4'", "'<f2'"), "unsupported .npy dtype '<f2'");
  expect_error("fortran.npy", edit("False", "True "), "Fortran-order");
  expect_error("garbled.npy", edit("'shape'", "'shapf'"), "bad .npy header");
  expect_error("truncated.npy", good.substr(0, good.size() - 5), "truncated");
  expect_error("header_cut.npy", good.substr(0, 40), "truncated .npy header");
  expect_error("trailing.npy", good + "xx", "unexpected bytes");
  EXPECT_NE(read_error(file("missing.npy")).find("missing.npy"), std::string::npos);
}

// The checksum a manifest records is zlib's CRC-32 of the whole file: the standard check value
// for "123456789", and for a streamed array what reading the finished file back gives.
TEST_F(NpyTest, StreamWriterKeepsTheCrc32OfTheWholeFile) {
  write_bytes(file("check.txt"), "123456789");
  EXPECT_EQ(file_crc32(file("check.txt")), 0xcbf43926u);
  write_bytes(file("empty"), "");
  EXPECT_EQ(file_crc32(file("empty")), 0u);
  const std::vector<float> values = {1, 2, 3, 4, 5, 6};
  NpyStreamWriter writer(file("s.npy"), DType::f32, {3, 2});
  writer.append(values.data(), 1);
  writer.append(values.data(), 0);  // no rows: no change
  writer.append(values.data() + 2, 2);
  writer.commit();
  EXPECT_EQ(writer.bytes_written(), fs::file_size(file("s.npy")));
  EXPECT_EQ(writer.crc32(), file_crc32(file("s.npy")));
  write_npy(file("w.npy"), std::vector<int64_t>{3, 2}, values);
  EXPECT_EQ(writer.crc32(), file_crc32(file("w.npy")));  // the same bytes as write_npy's
  const std::string what = [&] {
    try {
      file_crc32(file("missing.npy"));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  }();
  EXPECT_NE(what.find("cannot read " + file("missing.npy").string()), std::string::npos) << what;
}

}  // namespace
}  // namespace convlab
