#include "framework/io/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <limits>
#include <numeric>
#include <set>

#include "framework/core/error.h"
#include "framework/io/atomic_file.h"

namespace convlab {
namespace {

using Json = nlohmann::ordered_json;  // keeps the header's order, so arrays read back in written order

// The reference implementation refuses headers above 100 MB; so do we, before allocating.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// A header is {name: {field: [numbers]}}: depth 3. Deeper JSON is refused while parsing, so
// that nothing recurses (dump, destruction) through 100,000 levels of brackets.
constexpr int kMaxJsonDepth = 64;

// Thrown from the parser callback to stop at the first level too deep.
struct TooDeep {};

// A JSON value in a message: never throws on invalid UTF-8, and long values are cut.
std::string shown(const Json& value) {
  return message_excerpt(value.dump(-1, ' ', false, Json::error_handler_t::replace));
}

// A name from the header in a message: quoted, long names cut.
std::string shown(const std::string& text) { return message_excerpt(text, "'"); }

// Elements of a shape, or -1 when a dimension is negative or the product overflows.
int64_t element_count(const std::vector<int64_t>& shape) {
  int64_t count = 1;
  for (int64_t dim : shape) {
    if (dim < 0) return -1;
    if (dim != 0 && count > std::numeric_limits<int64_t>::max() / dim) return -1;
    count *= dim;
  }
  return count;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

void put_u64_le(std::ostream& out, uint64_t value) {
  char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xff);
  out.write(bytes, 8);
}

uint64_t get_u64_le(const unsigned char* bytes) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value |= static_cast<uint64_t>(bytes[i]) << (8 * i);
  return value;
}

// One tensor entry of a header, checked against the data region of data_size bytes.
struct Entry {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

Entry parse_entry(const std::string& file, const std::string& name, const Json& value, uint64_t data_size) {
  auto bad = [&](const std::string& what) -> Entry {
    CONVLAB_FAIL("{}: header entry {}: {}", file, shown(name), what);
  };
  if (!value.is_object()) return bad(fmt::format("expected an object, got {}", shown(value)));
  for (const auto& [field, ignored] : value.items())
    if (field != "dtype" && field != "shape" && field != "data_offsets")
      return bad(fmt::format("unexpected field {}", shown(field)));

  Entry entry;
  entry.name = name;
  if (!value.contains("dtype") || !value["dtype"].is_string()) return bad("missing string field 'dtype'");
  entry.dtype = value["dtype"].get<std::string>();
  size_t element_size = 0;
  try {
    element_size = safetensors_dtype_size(entry.dtype);
  } catch (const Error&) {
    return bad(fmt::format("unknown dtype {}", shown(entry.dtype)));
  }

  if (!value.contains("shape") || !value["shape"].is_array()) return bad("missing list field 'shape'");
  for (const Json& dim : value["shape"]) {
    if (!dim.is_number_unsigned())
      return bad(fmt::format("shape {} holds {}, not a size", shown(value["shape"]), shown(dim)));
    const uint64_t size = dim.get<uint64_t>();
    if (size > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return bad("shape dimension too large");
    entry.shape.push_back(static_cast<int64_t>(size));
  }

  const Json& offsets = value.contains("data_offsets") ? value["data_offsets"] : Json();
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() || !offsets[1].is_number_unsigned())
    return bad(fmt::format("'data_offsets' must be [begin, end] with non-negative integers, got {}", shown(offsets)));
  entry.begin = offsets[0].get<uint64_t>();
  entry.end = offsets[1].get<uint64_t>();
  if (entry.begin > entry.end) return bad(fmt::format("data_offsets [{}, {}] end before begin", entry.begin, entry.end));
  if (entry.end > data_size)
    return bad(fmt::format("data_offsets [{}, {}] reach beyond the data section ({} bytes; file truncated?)",
                           entry.begin, entry.end, data_size));

  const int64_t count = element_count(entry.shape);
  if (count < 0 || static_cast<uint64_t>(count) > std::numeric_limits<uint64_t>::max() / element_size)
    return bad(fmt::format("shape {} is too large", shape_text(entry.shape)));
  const uint64_t expected = static_cast<uint64_t>(count) * element_size;
  if (entry.end - entry.begin != expected)
    return bad(fmt::format("data_offsets [{}, {}] span {} bytes but shape {} of {} needs {}", entry.begin, entry.end,
                           entry.end - entry.begin, shape_text(entry.shape), entry.dtype, expected));
  return entry;
}

}  // namespace

int64_t NamedArray::num_elements() const { return element_count(shape); }

size_t safetensors_dtype_size(const std::string& dtype) {
  static const std::map<std::string, size_t> sizes = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},   {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
      {"BF16", 2}, {"I32", 4}, {"U32", 4},  {"F32", 4},     {"I64", 8},     {"U64", 8}, {"F64", 8}};
  const auto it = sizes.find(dtype);
  if (it == sizes.end()) CONVLAB_FAIL("unknown safetensors dtype '{}'", dtype);
  return it->second;
}

void write_safetensors(const std::filesystem::path& path, const std::vector<NamedArray>& arrays,
                       const std::map<std::string, std::string>& metadata) {
  std::set<std::string> names;
  for (const NamedArray& array : arrays) {
    CONVLAB_CHECK(!array.name.empty(), "writing {}: an array has an empty name", path.string());
    CONVLAB_CHECK(array.name != "__metadata__", "writing {}: '__metadata__' is reserved, not an array name",
                  path.string());
    CONVLAB_CHECK(names.insert(array.name).second, "writing {}: two arrays are called '{}'", path.string(), array.name);
    const size_t element_size = safetensors_dtype_size(array.dtype);
    const int64_t count = element_count(array.shape);
    CONVLAB_CHECK(count >= 0, "writing {}: array '{}' has an invalid shape {}", path.string(), array.name,
                  shape_text(array.shape));
    CONVLAB_CHECK(array.bytes.size() == static_cast<uint64_t>(count) * element_size,
                  "writing {}: array '{}' has {} bytes but shape {} of {} needs {}", path.string(), array.name,
                  array.bytes.size(), shape_text(array.shape), array.dtype, static_cast<uint64_t>(count) * element_size);
  }

  // Widest elements first: with a header padded to 8 bytes every array starts aligned.
  std::vector<size_t> order(arrays.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return safetensors_dtype_size(arrays[a].dtype) > safetensors_dtype_size(arrays[b].dtype);
  });
  std::vector<uint64_t> begin(arrays.size());
  uint64_t offset = 0;
  for (size_t index : order) {
    begin[index] = offset;
    offset += arrays[index].bytes.size();
  }

  Json header = Json::object();
  if (!metadata.empty()) {
    Json meta = Json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    header["__metadata__"] = std::move(meta);
  }
  for (size_t i = 0; i < arrays.size(); ++i) {
    header[arrays[i].name] = Json{{"dtype", arrays[i].dtype},
                                  {"shape", arrays[i].shape},
                                  {"data_offsets", {begin[i], begin[i] + arrays[i].bytes.size()}}};
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const Json::exception& e) {
    CONVLAB_FAIL("writing {}: names and metadata must be valid UTF-8: {}", path.string(), e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');

  write_file_atomically(path, [&](std::ostream& out) {
    put_u64_le(out, text.size());
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (size_t index : order) {
      const auto& bytes = arrays[index].bytes;
      out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    }
  });
}

bool SafetensorsFile::contains(const std::string& name) const {
  return std::any_of(arrays.begin(), arrays.end(), [&](const NamedArray& a) { return a.name == name; });
}

const NamedArray& SafetensorsFile::at(const std::string& name) const {
  for (const NamedArray& array : arrays)
    if (array.name == name) return array;
  std::string known;
  for (size_t i = 0; i < arrays.size() && i < 8; ++i) known += (i ? ", " : "") + arrays[i].name;
  if (arrays.size() > 8) known += fmt::format(", ... ({} in all)", arrays.size());
  CONVLAB_FAIL("{} holds no array '{}' (it holds: {})", path.string(), name, known.empty() ? "nothing" : known);
}

namespace {

// read_safetensors, with the tensors' bytes or (`with_data` false) their names, dtypes and
// shapes alone, checked all the same.
SafetensorsFile read_file(std::istream& in, uint64_t file_size, const std::string& file, bool with_data) {
  if (file_size < 8) CONVLAB_FAIL("{}: {} bytes is too short for a safetensors file (8-byte header length missing)", file, file_size);

  unsigned char length_bytes[8];
  in.read(reinterpret_cast<char*>(length_bytes), 8);
  if (!in) CONVLAB_FAIL("{}: cannot read the header length", file);
  const uint64_t header_size = get_u64_le(length_bytes);
  if (header_size < 2 || header_size > kMaxHeaderBytes || header_size > file_size - 8)
    CONVLAB_FAIL("{}: header length {} is impossible for a file of {} bytes (not safetensors, or truncated)", file,
                 header_size, file_size);

  std::string text(header_size, '\0');
  in.read(text.data(), static_cast<std::streamsize>(header_size));
  if (!in) CONVLAB_FAIL("{}: cannot read the {}-byte header", file, header_size);

  // The parser keeps the last of duplicate keys; a callback notices them first, and stops
  // at the first level nested too deep.
  std::set<std::string> top_keys;
  std::string duplicate;
  const Json::parser_callback_t check = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if ((event == Json::parse_event_t::object_start || event == Json::parse_event_t::array_start) &&
        depth >= kMaxJsonDepth)
      throw TooDeep{};
    if (event == Json::parse_event_t::key && depth == 1 && !top_keys.insert(parsed.get<std::string>()).second &&
        duplicate.empty())
      duplicate = parsed.get<std::string>();
    return true;
  };
  Json header;
  try {
    header = Json::parse(text, check);
  } catch (const TooDeep&) {
    CONVLAB_FAIL("{}: the header nests JSON more than {} levels deep (a safetensors header needs 3): corrupt or not "
                 "safetensors",
                 file, kMaxJsonDepth);
  } catch (const Json::parse_error& e) {
    CONVLAB_FAIL("{}: the header is not valid JSON (byte {} of the header): {}", file, e.byte, e.what());
  } catch (const Json::exception& e) {  // e.g. out_of_range for a number like 1e400
    CONVLAB_FAIL("{}: the header is not valid safetensors JSON: {}", file, e.what());
  }
  if (!header.is_object()) CONVLAB_FAIL("{}: the header is not a JSON object", file);
  if (!duplicate.empty()) CONVLAB_FAIL("{}: header entry {} appears twice", file, shown(duplicate));

  SafetensorsFile result;
  result.path = file;
  const uint64_t data_size = file_size - 8 - header_size;
  std::vector<Entry> entries;
  try {
    for (const auto& [name, value] : header.items()) {
      if (name == "__metadata__") {
        if (!value.is_object()) CONVLAB_FAIL("{}: '__metadata__' must be an object of strings", file);
        for (const auto& [key, item] : value.items()) {
          if (!item.is_string()) CONVLAB_FAIL("{}: metadata {} is {}, not a string", file, shown(key), shown(item));
          result.metadata[key] = item.get<std::string>();
        }
        continue;
      }
      entries.push_back(parse_entry(file, name, value, data_size));
    }
  } catch (const Json::exception& e) {
    CONVLAB_FAIL("{}: unexpected header content: {}", file, e.what());
  }

  std::vector<const Entry*> by_offset;
  for (const Entry& entry : entries) by_offset.push_back(&entry);
  std::sort(by_offset.begin(), by_offset.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const Entry& previous = *by_offset[i - 1];
    const Entry& current = *by_offset[i];
    if (current.begin < previous.end)
      CONVLAB_FAIL("{}: the data of {} [{}, {}] overlaps that of {} [{}, {}]", file, shown(current.name), current.begin,
                   current.end, shown(previous.name), previous.begin, previous.end);
  }

  const uint64_t data_start = 8 + header_size;
  for (const Entry& entry : entries) {
    NamedArray array;
    array.name = entry.name;
    array.dtype = entry.dtype;
    array.shape = entry.shape;
    if (!with_data) {
      result.arrays.push_back(std::move(array));
      continue;
    }
    array.bytes.resize(entry.end - entry.begin);
    in.seekg(static_cast<std::streamoff>(data_start + entry.begin));
    in.read(reinterpret_cast<char*>(array.bytes.data()), static_cast<std::streamsize>(array.bytes.size()));
    if (!in) CONVLAB_FAIL("{}: cannot read the data of {}", file, shown(entry.name));
    result.arrays.push_back(std::move(array));
  }
  return result;
}

SafetensorsFile read_path(const std::filesystem::path& path, bool with_data) {
  const std::string file = path.string();
  std::error_code ec;
  const uint64_t file_size = std::filesystem::file_size(path, ec);
  if (ec) CONVLAB_FAIL("cannot read {}: {}", file, ec.message());
  std::ifstream in(path, std::ios::binary);
  if (!in) CONVLAB_FAIL("cannot open {}", file);
  SafetensorsFile result = read_file(in, file_size, file, with_data);
  result.path = path;
  return result;
}

}  // namespace

SafetensorsFile read_safetensors(std::istream& in, uint64_t file_size, const std::string& file) {
  return read_file(in, file_size, file, /*with_data=*/true);
}

SafetensorsFile read_safetensors(const std::filesystem::path& path) { return read_path(path, /*with_data=*/true); }

SafetensorsFile read_safetensors_header(const std::filesystem::path& path) {
  return read_path(path, /*with_data=*/false);
}

}  // namespace convlab
