// The safetensors format (https://github.com/huggingface/safetensors): an 8-byte
// little-endian header length N, N bytes of JSON
//   {"__metadata__": {"key": "value", ...},
//    "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
// padded with spaces to a multiple of 8, then the raw little-endian data; offsets count from
// the first byte after the header. Independent of any tensor class: arrays are named bytes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <istream>
#include <map>
#include <string>
#include <vector>

namespace convlab {

struct NamedArray {
  std::string name;
  std::string dtype;  // "F32", "F64", "I32", "I64", "U8", ... (see safetensors_dtype_size)
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;  // little-endian, row-major

  int64_t num_elements() const;
};

// Bytes per element of a safetensors dtype: BOOL, U8, I8, F8_E4M3, F8_E5M2 (1), I16, U16,
// F16, BF16 (2), I32, U32, F32 (4), I64, U64, F64 (8). Throws for any other name.
size_t safetensors_dtype_size(const std::string& dtype);

// Writes atomically (path + ".tmp", flushed, then renamed). Names must be unique and not
// "__metadata__"; each array's byte count must match its shape and dtype. The data are laid
// out by decreasing element size so every array is aligned to its element size in the file.
void write_safetensors(const std::filesystem::path& path, const std::vector<NamedArray>& arrays,
                       const std::map<std::string, std::string>& metadata = {});

struct SafetensorsFile {
  std::filesystem::path path;
  std::vector<NamedArray> arrays;  // in the header's order
  std::map<std::string, std::string> metadata;

  bool contains(const std::string& name) const;
  // The array called name; an error naming the missing name and the file otherwise.
  const NamedArray& at(const std::string& name) const;
};

// Reads and validates the whole file: its size, the header length, the JSON, every dtype,
// shape and offset (inside the data, matching shape x dtype size, no overlaps). Errors name
// the file and what is wrong where.
SafetensorsFile read_safetensors(const std::filesystem::path& path);

// The same from a stream of `size` bytes; `name` stands for the file in messages.
SafetensorsFile read_safetensors(std::istream& in, uint64_t size, const std::string& name);

// The same checks without reading the tensors' data: metadata, names, dtypes and shapes
// (each NamedArray's bytes empty), for looking over many checkpoints cheaply.
SafetensorsFile read_safetensors_header(const std::filesystem::path& path);

}  // namespace convlab
