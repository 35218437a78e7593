// NumPy .npy files (format versions 1.0 and 2.0; 3.0 is read as well): the magic
// "\x93NUMPY", a version byte pair, a little-endian header length (2 bytes in 1.0, 4 in
// 2.0), then a Python dict literal
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// padded with spaces and a final '\n' so the data start at a multiple of 64 bytes, then the
// raw data in C order. Element types: <f4, <f8, <i4 and |u1 (f32, f64, i32, u8).
// Errors name the file and say what is wrong.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <istream>
#include <string>
#include <vector>

#include "framework/core/error.h"
#include "framework/core/tensor.h"

namespace convlab {

struct NpyArray {
  std::filesystem::path path;     // where it was read from, for messages
  DType dtype = DType::f32;       // f32, f64, i32 or u8
  std::vector<int64_t> shape;     // C order; empty for a 0-d array
  std::vector<uint8_t> bytes;     // little-endian, row-major

  int64_t numel() const;
  // Throws, naming the file, unless the array has this rank (features are (n, p): rank 2).
  void check_rank(int64_t rank) const;
  // The elements as T (T's dtype must match; checked).
  template <class T> std::vector<T> values() const;
  template <class T> const T* data() const;
};

NpyArray read_npy(const std::filesystem::path& path);
// The same from a stream of `size` bytes; `path` names it in messages.
NpyArray read_npy(std::istream& in, uint64_t size, const std::filesystem::path& path);

// What a .npy file holds, from its header alone (checked against the file's size).
struct NpyHeader {
  std::filesystem::path path;
  DType dtype = DType::f32;
  std::vector<int64_t> shape;  // C order
  uint64_t data_offset = 0;    // where the data start
  uint64_t data_bytes = 0;
};
NpyHeader read_npy_header(const std::filesystem::path& path);

// Rows of a C-order .npy array (slices along its first axis) read on demand, so that an
// array larger than memory can be streamed: only the rows asked for are ever read.
class NpyRowReader {
 public:
  explicit NpyRowReader(const std::filesystem::path& path);  // throws for a 0-d array
  const NpyHeader& header() const { return header_; }
  int64_t rows() const { return rows_; }
  uint64_t row_bytes() const { return row_bytes_; }
  // Rows [first, first + count) into out (count * row_bytes() bytes).
  void read_rows(int64_t first, int64_t count, void* out);

 private:
  std::ifstream in_;
  NpyHeader header_;
  int64_t rows_ = 0;
  uint64_t row_bytes_ = 0;
};

// Writes data (numel(shape) elements of dtype, C order) atomically: path + ".tmp", flushed,
// renamed over path. Any rank from 0 to 64 (numpy's limit), so always format version 1.0. The header is byte-for-byte what numpy.save
// writes (numpy >= 1.24, which leaves room for the first axis to grow).
void write_npy(const std::filesystem::path& path, DType dtype, const std::vector<int64_t>& shape,
               const void* data);

template <class T>
void write_npy(const std::filesystem::path& path, const std::vector<int64_t>& shape, const std::vector<T>& values) {
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  CONVLAB_CHECK(count == static_cast<int64_t>(values.size()), "writing {}: shape needs {} values, got {}",
                path.string(), count, values.size());
  write_npy(path, dtype_of<T>(), shape, values.data());
}

// A 1-d array of any numpy integer type (int8 .. int64, uint8 .. uint64; np.save of np.arange
// writes int64) as int64: lists of example indices.
std::vector<int64_t> read_npy_integers(const std::filesystem::path& path);

// Everything before the data: magic, version, length, dict and padding.
std::string npy_header(DType dtype, const std::vector<int64_t>& shape);

// The numpy descr of a dtype ("<f4", ...); throws for dtypes .npy files here do not hold.
const char* npy_descr(DType dtype);

template <class T>
const T* NpyArray::data() const {
  CONVLAB_CHECK(dtype == dtype_of<T>(), "{} holds {} elements, not {}", path.string(), npy_descr(dtype),
                npy_descr(dtype_of<T>()));
  return reinterpret_cast<const T*>(bytes.data());
}

template <class T>
std::vector<T> NpyArray::values() const {
  const T* p = data<T>();
  std::vector<T> out(static_cast<size_t>(numel()));
  std::memcpy(out.data(), p, out.size() * sizeof(T));
  return out;
}

}  // namespace convlab
