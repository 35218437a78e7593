#include "framework/io/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <string>

#include "framework/core/error.h"
#include "tests/support/scratch_dir.h"
#include "tests/support/source_paths.h"

namespace convlab {
namespace {

class Safetensors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test_support::fresh_test_dir("safetensors");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
};

template <class T>
NamedArray make_array(const std::string& name, const std::string& dtype, std::vector<int64_t> shape,
                      const std::vector<T>& values) {
  NamedArray array{name, dtype, std::move(shape), std::vector<uint8_t>(values.size() * sizeof(T))};
  if (!values.empty()) std::memcpy(array.bytes.data(), values.data(), array.bytes.size());
  return array;
}

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_all(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string u64_le(uint64_t value) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xff);
  return bytes;
}

// The message of the Error that read_safetensors throws, or "" when it reads the file.
std::string read_error(const std::filesystem::path& path) {
  try {
    read_safetensors(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST_F(Safetensors, RoundTripsDtypesShapesAndMetadata) {
  const std::vector<NamedArray> arrays = {
      make_array<uint8_t>("bytes", "U8", {3}, {1, 2, 255}),
      make_array<float>("conv.weight", "F32", {2, 1, 2, 2}, {1.5f, -2, 3, 4, 5, 6, 7, -0.25f}),
      make_array<double>("scalar", "F64", {}, {3.141592653589793}),
      make_array<int32_t>("ids", "I32", {2, 2}, {-1, 0, 1, 2147483647}),
      make_array<int64_t>("step", "I64", {1}, {int64_t{1} << 40}),
      make_array<float>("empty", "F32", {0, 4}, {}),
  };
  const std::map<std::string, std::string> metadata = {{"epoch", "5"}, {"format", "convlab"}, {"note", "ünïcode \"q\""}};
  const auto path = dir_ / "model.safetensors";
  write_safetensors(path, arrays, metadata);

  const SafetensorsFile file = read_safetensors(path);
  EXPECT_EQ(file.metadata, metadata);
  ASSERT_EQ(file.arrays.size(), arrays.size());
  for (size_t i = 0; i < arrays.size(); ++i) {
    SCOPED_TRACE(arrays[i].name);
    EXPECT_EQ(file.arrays[i].name, arrays[i].name);  // the order written
    EXPECT_EQ(file.arrays[i].dtype, arrays[i].dtype);
    EXPECT_EQ(file.arrays[i].shape, arrays[i].shape);
    EXPECT_EQ(file.arrays[i].bytes, arrays[i].bytes);
    EXPECT_EQ(file.at(arrays[i].name).bytes, arrays[i].bytes);
  }
  EXPECT_EQ(file.at("scalar").num_elements(), 1);
  EXPECT_EQ(file.at("empty").num_elements(), 0);
  EXPECT_TRUE(file.contains("ids"));
  EXPECT_FALSE(file.contains("missing"));
  try {
    file.at("missing");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
}

TEST_F(Safetensors, HeaderLayoutIsByteExact) {
  const auto path = dir_ / "layout.safetensors";
  write_safetensors(path,
                    {make_array<uint8_t>("b", "U8", {2}, {7, 8}), make_array<float>("a", "F32", {2}, {1.0f, 2.0f})},
                    {{"k", "v"}});
  const std::string bytes = read_all(path);
  // Metadata first, then the arrays in the order given; the F32 array's data come first so it is aligned.
  std::string json = R"({"__metadata__":{"k":"v"},"b":{"dtype":"U8","shape":[2],"data_offsets":[8,10]},)"
                     R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  json.append((8 - json.size() % 8) % 8, ' ');
  ASSERT_EQ(bytes.size(), 8 + json.size() + 10);
  EXPECT_EQ(bytes.substr(0, 8), u64_le(json.size()));
  EXPECT_EQ(bytes.substr(8, json.size()), json);
  EXPECT_EQ((8 + json.size()) % 8, 0u);
  const float a[2] = {1.0f, 2.0f};
  EXPECT_EQ(bytes.substr(8 + json.size(), 8), std::string(reinterpret_cast<const char*>(a), 8));
  EXPECT_EQ(bytes.substr(8 + json.size() + 8), std::string("\x07\x08", 2));
}

TEST_F(Safetensors, ReadsAFileWrittenByHand) {
  // Written from the format description alone: header padded with spaces, offsets relative to the data.
  std::string json = R"({"w":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},)"
                     R"("n":{"data_offsets":[8,16],"shape":[],"dtype":"I64"},"__metadata__":{"format":"pt"}})";
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string data;
  data += std::string("\x00\x00\x80\x3f", 4);                  // 1.0f
  data += std::string("\x00\x00\x00\xc0", 4);                  // -2.0f
  data += std::string("\x2a\x00\x00\x00\x00\x00\x00\x00", 8);  // 42
  const auto path = dir_ / "by_hand.safetensors";
  write_all(path, u64_le(json.size()) + json + data);

  const SafetensorsFile file = read_safetensors(path);
  EXPECT_EQ(file.metadata.at("format"), "pt");
  const NamedArray& w = file.at("w");
  EXPECT_EQ(w.dtype, "F32");
  EXPECT_EQ(w.shape, (std::vector<int64_t>{1, 2}));
  float values[2];
  std::memcpy(values, w.bytes.data(), 8);
  EXPECT_EQ(values[0], 1.0f);
  EXPECT_EQ(values[1], -2.0f);
  const NamedArray& n = file.at("n");
  EXPECT_TRUE(n.shape.empty());
  int64_t answer = 0;
  std::memcpy(&answer, n.bytes.data(), 8);
  EXPECT_EQ(answer, 42);
}

TEST_F(Safetensors, TruncatedFileNamesTheFile) {
  const auto path = dir_ / "truncated.safetensors";
  write_safetensors(path, {make_array<float>("w", "F32", {4}, {1, 2, 3, 4})});
  const std::string bytes = read_all(path);
  write_all(path, bytes.substr(0, bytes.size() - 3));
  const std::string message = read_error(path);
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  EXPECT_NE(message.find("'w'"), std::string::npos) << message;

  write_all(path, bytes.substr(0, 5));
  EXPECT_NE(read_error(path).find(path.string()), std::string::npos);
  write_all(path, bytes.substr(0, 20));  // cut inside the header
  EXPECT_NE(read_error(path).find("header length"), std::string::npos) << read_error(path);
}

TEST_F(Safetensors, BadHeaderLengthNamesTheFile) {
  const auto path = dir_ / "bad_length.safetensors";
  write_all(path, u64_le(uint64_t{1} << 60) + std::string(16, ' '));
  const std::string message = read_error(path);
  EXPECT_NE(message.find(path.string()), std::string::npos) << message;
  EXPECT_NE(message.find("header length"), std::string::npos) << message;
}

TEST_F(Safetensors, InvalidHeadersAreErrors) {
  struct Case {
    std::string json, expect;
  };
  const Case cases[] = {
      {R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})", "JSON"},
      {R"([1, 2])", "not a JSON object"},
      {R"({"w":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}})", "F33"},
      {R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,12]}})", "'w'"},
      {R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,40]}})", "beyond the data"},
      {R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", "shape"},
      {R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", "data_offsets"},
      {R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}})", "extra"},
      {R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"v":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
       "overlaps"},
      {R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"w":{"dtype":"U8","shape":[1],"data_offsets":[8,9]}})",
       "twice"},
      {R"({"__metadata__":{"epoch":5}})", "epoch"},
  };
  const auto path = dir_ / "bad_header.safetensors";
  for (const Case& c : cases) {
    SCOPED_TRACE(c.json);
    std::string json = c.json;
    json.append((8 - json.size() % 8) % 8, ' ');
    write_all(path, u64_le(json.size()) + json + std::string(16, '\0'));
    const std::string message = read_error(path);
    EXPECT_NE(message.find(path.string()), std::string::npos) << message;
    EXPECT_NE(message.find(c.expect), std::string::npos) << message;
  }
}

TEST_F(Safetensors, AuditInputsGiveClearErrors) {
  // Each once crashed the reader: a stack overflow (JSON nested 100,000 deep in the header,
  // in the metadata, in a shape) or nlohmann's out_of_range escaping without a file name.
  const std::filesystem::path corpus = std::filesystem::path(test_support::source_dir()) / "tests/fuzz/corpus/safetensors";
  const std::pair<const char*, const char*> cases[] = {
      {"safetensors_deep_nesting_stack_overflow.safetensors", "more than 64 levels deep"},
      {"safetensors_deep_nesting_in_metadata.safetensors", "more than 64 levels deep"},
      {"safetensors_deep_nesting_in_shape.safetensors", "more than 64 levels deep"},
      {"safetensors_number_overflow_out_of_range.safetensors", "not valid safetensors JSON"},
      {"strict-safetensors-crash-53cd3b0519249800612ab4fa02d9b1507905b8c4", "not valid safetensors JSON"},
  };
  for (const auto& [name, expected] : cases) {
    SCOPED_TRACE(name);
    const std::string message = read_error(corpus / name);
    EXPECT_NE(message.find((corpus / name).string()), std::string::npos) << message;
    EXPECT_NE(message.find(expected), std::string::npos) << message;
    EXPECT_LT(message.size(), 1000u) << message;
  }
}

TEST_F(Safetensors, NestingUpToTheLimitIsReadAndBeyondItRefused) {
  const auto path = dir_ / "nested.safetensors";
  auto with_metadata_value = [&](const std::string& value) {
    std::string json = R"({"__metadata__":{"note":)" + value + "}}";
    json.append((8 - json.size() % 8) % 8, ' ');
    write_all(path, u64_le(json.size()) + json);
  };
  // Depth 2 (the outer objects) + 62 arrays = 64: still parsed, then refused as not a string.
  with_metadata_value(std::string(62, '[') + std::string(62, ']'));
  EXPECT_NE(read_error(path).find("metadata 'note' is [[[["), std::string::npos) << read_error(path);
  with_metadata_value(std::string(63, '[') + std::string(63, ']'));
  EXPECT_NE(read_error(path).find("more than 64 levels deep"), std::string::npos) << read_error(path);
}

TEST_F(Safetensors, ReadsFromAStream) {
  const auto path = dir_ / "ok.safetensors";
  write_safetensors(path, {make_array<float>("w", "F32", {2}, {1, 2})}, {{"epoch", "3"}});
  std::istringstream in(read_all(path));
  const SafetensorsFile file = read_safetensors(in, std::filesystem::file_size(path), "in-memory");
  EXPECT_EQ(file.at("w").shape, std::vector<int64_t>{2});
  EXPECT_EQ(file.metadata.at("epoch"), "3");
  std::istringstream empty("");
  try {
    read_safetensors(empty, 4, "named-stream");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("named-stream"), std::string::npos) << e.what();
  }
}

TEST_F(Safetensors, MissingFileIsAnError) {
  EXPECT_NE(read_error(dir_ / "nothing.safetensors").find("nothing.safetensors"), std::string::npos);
}

TEST_F(Safetensors, WriteRejectsInconsistentArrays) {
  const auto path = dir_ / "bad.safetensors";
  EXPECT_THROW(write_safetensors(path, {make_array<float>("w", "F32", {3}, {1, 2})}), Error);
  EXPECT_THROW(write_safetensors(path, {make_array<float>("w", "F31", {2}, {1, 2})}), Error);
  EXPECT_THROW(write_safetensors(path, {make_array<float>("w", "F32", {2}, {1, 2}), make_array<float>("w", "F32", {2}, {1, 2})}),
               Error);
  EXPECT_THROW(write_safetensors(path, {make_array<float>("__metadata__", "F32", {2}, {1, 2})}), Error);
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST_F(Safetensors, AtomicWriteLeavesNoTemporaryFile) {
  const auto path = dir_ / "ckpt.safetensors";
  write_safetensors(path, {make_array<float>("w", "F32", {2}, {1, 2})});
  write_safetensors(path, {make_array<float>("w", "F32", {3}, {1, 2, 3})});  // replaces the first
  EXPECT_EQ(read_safetensors(path).at("w").shape, std::vector<int64_t>{3});
  for (const auto& entry : std::filesystem::directory_iterator(dir_))
    EXPECT_EQ(entry.path().filename(), "ckpt.safetensors") << entry.path();

  // A folder that does not exist: an error naming the path, and nothing left behind.
  const auto nowhere = dir_ / "no_such_folder" / "x.safetensors";
  try {
    write_safetensors(nowhere, {make_array<float>("w", "F32", {2}, {1, 2})});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(nowhere.string()), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace convlab
