#include "framework/io/npy.h"

#include <bit>
#include <cctype>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <string_view>

#include "framework/io/atomic_file.h"

namespace convlab {

static_assert(std::endian::native == std::endian::little, ".npy data are read and written as little-endian");

namespace {

constexpr std::string_view kMagic = "\x93NUMPY";
constexpr size_t kAlign = 64;          // numpy aligns the data to 64 bytes
constexpr size_t kGrowthDigits = 21;   // numpy leaves room for the first axis to reach 21 digits
constexpr size_t kMaxRank = 64;        // numpy's limit on dimensions

size_t element_size(DType dtype) {
  switch (dtype) {
    case DType::f32: case DType::i32: return 4;
    case DType::f64: return 8;
    case DType::u8: return 1;
    default: break;
  }
  CONVLAB_FAIL(".npy files here hold f32, f64, i32 or u8 elements");
}

int64_t count_of(const std::vector<int64_t>& shape) {
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  return count;
}

// Python's repr of a tuple of ints: (), (5,), (2, 3).
std::string shape_repr(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

// A reader for the header's dict literal, just the subset numpy writes: string keys; string,
// True/False and int-tuple values.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::filesystem::path& path) : text_(text), path_(path) {}

  void parse(std::string& descr, bool& fortran_order, std::vector<int64_t>& shape) {
    bool have_descr = false, have_order = false, have_shape = false;
    expect('{');
    while (!peek('}')) {
      const std::string key = string_literal();
      expect(':');
      if (key == "descr") {
        descr = string_literal();
        have_descr = true;
      } else if (key == "fortran_order") {
        fortran_order = boolean();
        have_order = true;
      } else if (key == "shape") {
        shape = int_tuple();
        have_shape = true;
      } else {
        fail(fmt::format("unexpected key '{}'", key.substr(0, 200)));
      }
      if (!peek('}')) expect(',');
    }
    expect('}');
    if (!(have_descr && have_order && have_shape)) fail("the dict needs 'descr', 'fortran_order' and 'shape'");
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    constexpr size_t kMaxShown = 200;  // a header can be long; the message need not be
    const std::string shown = text_.size() <= kMaxShown ? std::string(text_)
                                                        : fmt::format("{}... ({} bytes)", text_.substr(0, kMaxShown),
                                                                      text_.size());
    CONVLAB_FAIL("{}: bad .npy header ({}) at byte {} of: {}", path_.string(), what, pos_, shown);
  }
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool peek(char c) {
    skip_space();
    return pos_ < text_.size() && text_[pos_] == c;
  }
  void expect(char c) {
    if (!peek(c)) fail(fmt::format("expected '{}'", c));
    ++pos_;
  }
  std::string string_literal() {
    skip_space();
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) fail("expected a string");
    const char quote = text_[pos_++];
    const size_t end = text_.find(quote, pos_);
    if (end == std::string_view::npos) fail("unterminated string");
    std::string s(text_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return s;
  }
  bool boolean() {
    skip_space();
    for (const auto& [word, value] : {std::pair{std::string_view("True"), true}, {std::string_view("False"), false}})
      if (text_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        return value;
      }
    fail("expected True or False");
  }
  std::vector<int64_t> int_tuple() {
    std::vector<int64_t> dims;
    expect('(');
    while (!peek(')')) {
      skip_space();
      int64_t v = 0;
      size_t digits = 0;
      while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
        if (v > (int64_t{1} << 53)) fail("dimension too large");
        v = v * 10 + (text_[pos_++] - '0');
        ++digits;
      }
      if (digits == 0) fail("expected a non-negative integer");
      dims.push_back(v);
      if (!peek(')')) expect(',');
    }
    expect(')');
    return dims;
  }

  std::string_view text_;
  const std::filesystem::path& path_;
  size_t pos_ = 0;
};

DType dtype_from_descr(const std::string& descr, const std::filesystem::path& path) {
  if (descr == "<f4") return DType::f32;
  if (descr == "<f8") return DType::f64;
  if (descr == "<i4") return DType::i32;
  if (descr == "|u1" || descr == "<u1") return DType::u8;
  CONVLAB_FAIL("{}: unsupported .npy dtype '{}' (supported: <f4, <f8, <i4, |u1, little-endian)", path.string(),
               descr.substr(0, 200));
}

}  // namespace

const char* npy_descr(DType dtype) {
  switch (dtype) {
    case DType::f32: return "<f4";
    case DType::f64: return "<f8";
    case DType::i32: return "<i4";
    case DType::u8: return "|u1";
    default: break;
  }
  CONVLAB_FAIL(".npy files here hold f32, f64, i32 or u8 elements, not bf16");
}

int64_t NpyArray::numel() const { return count_of(shape); }

void NpyArray::check_rank(int64_t rank) const {
  CONVLAB_CHECK(static_cast<int64_t>(shape.size()) == rank, "{}: expected a {}-d array, got shape {}",
                path.string(), rank, shape_repr(shape));
}

std::string npy_header(DType dtype, const std::vector<int64_t>& shape) {
  CONVLAB_CHECK(shape.size() <= kMaxRank, ".npy arrays have at most {} dimensions (numpy's limit), got {}", kMaxRank,
                shape.size());
  for (int64_t d : shape) CONVLAB_CHECK(d >= 0, "negative dimension in .npy shape {}", shape_repr(shape));
  std::string dict = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", npy_descr(dtype),
                                 shape_repr(shape));
  if (!shape.empty()) {
    const size_t digits = std::to_string(shape[0]).size();
    if (digits < kGrowthDigits) dict.append(kGrowthDigits - digits, ' ');
  }
  // At most 64 dimensions of at most 20 digits: the header fits version 1.0's 2-byte length,
  // which is what numpy writes for every array it can hold.
  const size_t prefix = kMagic.size() + 2 + 2;
  const size_t unpadded = dict.size() + 1;  // + '\n'
  // Like numpy, an already aligned header still gets a full block of padding.
  const size_t pad = kAlign - (prefix + unpadded) % kAlign;
  const size_t header_length = unpadded + pad;
  std::string out(kMagic);
  out += '\x01';
  out += '\0';
  out += static_cast<char>(header_length & 0xFF);
  out += static_cast<char>(header_length >> 8);
  out += dict;
  out.append(pad, ' ');
  out += '\n';
  return out;
}

void write_npy(const std::filesystem::path& path, DType dtype, const std::vector<int64_t>& shape, const void* data) {
  const std::string header = npy_header(dtype, shape);
  const size_t bytes = static_cast<size_t>(count_of(shape)) * element_size(dtype);
  CONVLAB_CHECK(data != nullptr || bytes == 0, "writing {}: null data", path.string());
  write_file_atomically(path, [&](std::ostream& out) {
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  });
}

namespace {

// Everything up to the data, checked against the stream's size (`file_size` bytes); leaves
// `in` at the data.
NpyHeader read_header(std::istream& in, uint64_t file_size, const std::filesystem::path& path) {
  // Magic, version, and the header length (2 or 4 bytes).
  std::string prefix(kMagic.size() + 2, '\0');
  in.read(prefix.data(), static_cast<std::streamsize>(prefix.size()));
  CONVLAB_CHECK(in.good() && std::string_view(prefix).substr(0, kMagic.size()) == kMagic,
                "{} is not a .npy file (it does not start with \\x93NUMPY)", path.string());
  const int major = static_cast<unsigned char>(prefix[kMagic.size()]);
  const int minor = static_cast<unsigned char>(prefix[kMagic.size() + 1]);
  CONVLAB_CHECK((major == 1 || major == 2 || major == 3) && minor == 0,
                "{}: unsupported .npy format version {}.{} (1.0, 2.0 and 3.0 are read)", path.string(), major, minor);
  const size_t length_bytes = major == 1 ? 2 : 4;
  unsigned char length_field[4] = {0, 0, 0, 0};
  in.read(reinterpret_cast<char*>(length_field), static_cast<std::streamsize>(length_bytes));
  CONVLAB_CHECK(in.good(), "{}: truncated .npy header", path.string());
  size_t header_length = 0;
  for (size_t b = 0; b < length_bytes; ++b) header_length |= static_cast<size_t>(length_field[b]) << (8 * b);
  const size_t data_offset = prefix.size() + length_bytes + header_length;
  CONVLAB_CHECK(data_offset <= file_size, "{}: truncated .npy header (it claims {} bytes, the file has {})",
                path.string(), data_offset, file_size);
  std::string header(header_length, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_length));
  CONVLAB_CHECK(in.good(), "{}: cannot read the .npy header", path.string());

  NpyHeader out;
  out.path = path;
  out.data_offset = data_offset;
  std::string descr;
  bool fortran_order = false;
  HeaderParser(header, path).parse(descr, fortran_order, out.shape);
  out.dtype = dtype_from_descr(descr, path);
  CONVLAB_CHECK(!fortran_order || out.shape.size() <= 1,
                "{}: Fortran-order arrays are not supported (save np.ascontiguousarray(a) instead)", path.string());

  // A corrupt shape must not overflow the size computation into a small number, nor the
  // element count (an int64, also when a later dimension is 0).
  uint64_t expected = element_size(out.dtype);
  int64_t count = 1;
  for (int64_t d : out.shape)
    CONVLAB_CHECK(!__builtin_mul_overflow(expected, static_cast<uint64_t>(d), &expected) &&
                      !__builtin_mul_overflow(count, d, &count),
                  "{}: shape {} is too large", path.string(), shape_repr(out.shape));
  const size_t available = static_cast<size_t>(file_size - data_offset);
  CONVLAB_CHECK(available >= expected, "{}: truncated: shape {} of {} needs {} bytes of data, the file has {}",
                path.string(), shape_repr(out.shape), descr, expected, available);
  CONVLAB_CHECK(available == expected, "{}: {} unexpected bytes after the data of shape {} of {}", path.string(),
                available - expected, shape_repr(out.shape), descr);
  out.data_bytes = expected;
  return out;
}

// The header of the file `in` has opened.
NpyHeader read_file_header(std::ifstream& in, const std::filesystem::path& path) {
  CONVLAB_CHECK(in.good(), "cannot open {}", path.string());
  std::error_code ec;
  const uintmax_t file_size = std::filesystem::file_size(path, ec);
  CONVLAB_CHECK(!ec, "cannot read the size of {}: {}", path.string(), ec.message());
  return read_header(in, file_size, path);
}

}  // namespace

NpyHeader read_npy_header(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return read_file_header(in, path);
}

NpyArray read_npy(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  CONVLAB_CHECK(in.good(), "cannot open {}", path.string());
  std::error_code ec;
  const uintmax_t file_size = std::filesystem::file_size(path, ec);
  CONVLAB_CHECK(!ec, "cannot read the size of {}: {}", path.string(), ec.message());
  return read_npy(in, file_size, path);
}

NpyArray read_npy(std::istream& in, uint64_t size, const std::filesystem::path& path) {
  const NpyHeader header = read_header(in, size, path);
  NpyArray array;
  array.path = path;
  array.dtype = header.dtype;
  array.shape = header.shape;
  const uint64_t expected = header.data_bytes;
  array.bytes.resize(expected);
  in.read(reinterpret_cast<char*>(array.bytes.data()), static_cast<std::streamsize>(expected));
  CONVLAB_CHECK(in.good() || expected == 0, "{}: error reading {} bytes of data", path.string(), expected);
  return array;
}

NpyRowReader::NpyRowReader(const std::filesystem::path& path) : in_(path, std::ios::binary) {
  header_ = read_file_header(in_, path);
  CONVLAB_CHECK(!header_.shape.empty(), "{}: a 0-d array has no rows", path.string());
  rows_ = header_.shape[0];
  row_bytes_ = rows_ > 0 ? header_.data_bytes / static_cast<uint64_t>(rows_) : 0;
}

void NpyRowReader::read_rows(int64_t first, int64_t count, void* out) {
  CONVLAB_CHECK(first >= 0 && count >= 0 && first + count <= rows_, "{}: rows [{}, {}) are outside its {} rows",
                header_.path.string(), first, first + count, rows_);
  in_.clear();
  in_.seekg(static_cast<std::streamoff>(header_.data_offset + static_cast<uint64_t>(first) * row_bytes_));
  const uint64_t bytes = static_cast<uint64_t>(count) * row_bytes_;
  in_.read(static_cast<char*>(out), static_cast<std::streamsize>(bytes));
  CONVLAB_CHECK(in_.good() || bytes == 0, "{}: error reading rows [{}, {}) ({} bytes): was the file changed?",
                header_.path.string(), first, first + count, bytes);
}

}  // namespace convlab

namespace convlab {

std::vector<int64_t> read_npy_integers(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  CONVLAB_CHECK(in.good(), "cannot open {}", path.string());
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CONVLAB_CHECK(!in.bad(), "error reading {}", path.string());
  const size_t prefix = kMagic.size() + 2;
  CONVLAB_CHECK(bytes.size() >= prefix + 2 && std::string_view(bytes).substr(0, kMagic.size()) == kMagic,
                "{} is not a .npy file (it does not start with \\x93NUMPY)", path.string());
  const int major = static_cast<unsigned char>(bytes[kMagic.size()]);
  CONVLAB_CHECK(major >= 1 && major <= 3, "{}: unsupported .npy format version {}", path.string(), major);
  const size_t length_bytes = major == 1 ? 2 : 4;
  CONVLAB_CHECK(bytes.size() >= prefix + length_bytes, "{}: truncated .npy header", path.string());
  size_t header_length = 0;
  for (size_t b = 0; b < length_bytes; ++b)
    header_length |= static_cast<size_t>(static_cast<unsigned char>(bytes[prefix + b])) << (8 * b);
  const size_t data_offset = prefix + length_bytes + header_length;
  CONVLAB_CHECK(data_offset <= bytes.size(), "{}: truncated .npy header", path.string());
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
  HeaderParser(std::string_view(bytes).substr(prefix + length_bytes, header_length), path)
      .parse(descr, fortran_order, shape);
  CONVLAB_CHECK(shape.size() == 1, "{}: expected a 1-d array of indices, got {} dimensions", path.string(),
                shape.size());

  // numpy's integer types: '|i1', '<i2', '<i4', '<i8' and the unsigned 'u' ones.
  const bool known = descr.size() == 3 && (descr[0] == '<' || descr[0] == '|') && (descr[1] == 'i' || descr[1] == 'u') &&
                     (descr[2] == '1' || descr[2] == '2' || descr[2] == '4' || descr[2] == '8');
  CONVLAB_CHECK(known, "{}: expected integers (int8 .. int64, uint8 .. uint64, little-endian), got dtype '{}'",
                path.string(), descr);
  const size_t width = static_cast<size_t>(descr[2] - '0');
  const bool is_signed = descr[1] == 'i';
  const uint64_t count = static_cast<uint64_t>(shape[0]);
  // Compared by division: count * width can wrap around for a corrupt shape.
  const uint64_t data_bytes = bytes.size() - data_offset;
  CONVLAB_CHECK(data_bytes % width == 0 && data_bytes / width == count,
                "{}: {} bytes of data for {} elements of {} (truncated or padded)", path.string(),
                bytes.size() - data_offset, count, descr);
  std::vector<int64_t> values(count);
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t raw = 0;
    for (size_t b = 0; b < width; ++b)
      raw |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[data_offset + i * width + b])) << (8 * b);
    if (is_signed && width < 8 && (raw >> (8 * width - 1)) != 0) raw |= ~uint64_t{0} << (8 * width);  // sign-extend
    CONVLAB_CHECK(is_signed || raw <= static_cast<uint64_t>(INT64_MAX), "{}: element {} is too large", path.string(), i);
    values[i] = static_cast<int64_t>(raw);
  }
  return values;
}

}  // namespace convlab
