#include "framework/data/dataset_cache.h"

#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>

#include "framework/core/error.h"
#include "framework/io/orphans.h"

namespace convlab {
namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'C', 'V', 'L', 'B', 'C', 'F', '1', '0'};
// 2: JPEGs decoded by libjpeg-turbo (1: stb_image, whose pixels differ by up to 4 levels).
constexpr uint32_t kVersion = 2;
constexpr uint64_t kMaxImages = 100'000'000;  // sanity bound on counts read from a file
constexpr uint32_t kMaxString = 1 << 16;

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t class_count;
  uint64_t fingerprint;
  uint64_t train_count;
  uint64_t test_count;
};
static_assert(sizeof(Header) == 40);

// CRC-32 over buffers larger than zlib's 32-bit length.
uint32_t crc_update(uint32_t crc, const void* data, size_t size) {
  return static_cast<uint32_t>(crc32_z(crc, static_cast<const Bytef*>(data), size));
}

class Writer {
 public:
  explicit Writer(const fs::path& path) : path_(path) {
    file_ = std::fopen(path.c_str(), "wb");
    CONVLAB_CHECK(file_ != nullptr, "cannot create the cache file {}: {}", path.string(), std::strerror(errno));
  }
  ~Writer() {
    if (file_) std::fclose(file_);
  }
  void write(const void* data, size_t size, bool checksummed = true) {
    if (size == 0) return;  // an empty vector's data() may be null
    CONVLAB_CHECK(std::fwrite(data, 1, size, file_) == size, "cannot write the cache file {}: {}", path_.string(),
                  std::strerror(errno));
    if (checksummed) crc_ = crc_update(crc_, data, size);
  }
  void write_string(const std::string& text) {
    const auto length = static_cast<uint32_t>(text.size());
    write(&length, sizeof(length));
    write(text.data(), text.size());
  }
  void close() {
    write(&crc_, sizeof(crc_), false);
    // No fsync: a file torn by a crash fails its checksum and is decoded again.
    const bool closed = std::fclose(file_) == 0;
    file_ = nullptr;
    CONVLAB_CHECK(closed, "cannot write the cache file {}: {}", path_.string(), std::strerror(errno));
  }

 private:
  fs::path path_;
  std::FILE* file_ = nullptr;
  uint32_t crc_ = 0;
};

// Reads the file after the header; every failure is a reason not to trust it.
class Reader {
 public:
  Reader(std::FILE* file, uint64_t size, uint32_t crc) : file_(file), left_(size), crc_(crc) {}
  // False when the file is shorter than the request.
  bool read(void* data, size_t size, bool checksummed = true) {
    if (size > left_) return false;
    // Large blocks: the pixels are ~180 MB and must load in well under a second.
    auto* bytes = static_cast<char*>(data);
    for (size_t done = 0; done < size;) {
      const size_t chunk = std::min<size_t>(size - done, 64 << 20);
      if (std::fread(bytes + done, 1, chunk, file_) != chunk) return false;
      if (checksummed) crc_ = crc_update(crc_, bytes + done, chunk);
      done += chunk;
    }
    left_ -= size;
    return true;
  }
  bool read_string(std::string& text) {
    uint32_t length = 0;
    if (!read(&length, sizeof(length)) || length > kMaxString) return false;
    text.resize(length);
    return read(text.data(), length);
  }
  uint64_t left() const { return left_; }
  uint32_t crc() const { return crc_; }

 private:
  std::FILE* file_;
  uint64_t left_;
  uint32_t crc_;
};

void warn_ignored(const fs::path& file, const std::string& why) {
  fmt::print(stderr, "convlab: warning: ignoring the data cache {}: {}; decoding the source again\n", file.string(),
             why);
}

bool read_set(Reader& reader, uint64_t count, ImageSet& set) {
  set.images.resize(count * kCifarImageBytes);
  set.labels.resize(count);
  return reader.read(set.images.data(), set.images.size()) && reader.read(set.labels.data(), set.labels.size());
}

}  // namespace

fs::path dataset_cache_file(const fs::path& cache_dir, uint64_t fingerprint) {
  return cache_dir / fmt::format("cifar10-{:016x}.bin", fingerprint);
}

std::optional<Cifar10> read_dataset_cache(const fs::path& file, uint64_t fingerprint) {
  std::error_code error;
  const uint64_t file_size = fs::file_size(file, error);
  if (error) return std::nullopt;  // no cache yet
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> owner(std::fopen(file.c_str(), "rb"), &std::fclose);
  std::FILE* in = owner.get();
  if (!in) {
    warn_ignored(file, std::strerror(errno));
    return std::nullopt;
  }
  Header header{};
  const bool header_read = std::fread(&header, sizeof(header), 1, in) == 1;
  const auto fail = [&](const std::string& why) -> std::optional<Cifar10> {
    warn_ignored(file, why);
    return std::nullopt;
  };
  if (!header_read || std::memcmp(header.magic, kMagic, sizeof(kMagic)) != 0)
    return fail("not a convlab data cache (bad magic or too short)");
  if (header.version != kVersion) return fail(fmt::format("format version {}, expected {}", header.version, kVersion));
  if (header.fingerprint != fingerprint) return fail("it was made from another source");
  if (header.train_count > kMaxImages || header.test_count > kMaxImages || header.class_count > 256)
    return fail("implausible counts in the header");
  const uint64_t payload = (header.train_count + header.test_count) * (kCifarImageBytes + 1);
  if (file_size < sizeof(header) + payload + sizeof(uint32_t))
    return fail(fmt::format("truncated: {} bytes, the header promises at least {}", file_size,
                            sizeof(header) + payload + sizeof(uint32_t)));

  Reader reader(in, file_size - sizeof(header), crc_update(0, &header, sizeof(header)));
  Cifar10 data;
  data.class_names.resize(header.class_count);
  for (std::string& name : data.class_names)
    if (!reader.read_string(name)) return fail("truncated in the class names");
  if (!reader.read_string(data.source_description)) return fail("truncated in the source description");
  if (!read_set(reader, header.train_count, data.train) || !read_set(reader, header.test_count, data.test))
    return fail("truncated in the pixels");
  const uint32_t computed = reader.crc();
  uint32_t stored = 0;
  if (!reader.read(&stored, sizeof(stored), false)) return fail("truncated before the checksum");
  if (reader.left() != 0) return fail(fmt::format("{} unexpected bytes at the end", reader.left()));
  if (stored != computed) return fail("checksum mismatch (the file is corrupt)");
  for (const ImageSet* set : {&data.train, &data.test})
    for (uint8_t label : set->labels)
      if (label >= header.class_count) return fail(fmt::format("label {} out of range", label));
  return data;
}

void write_dataset_cache(const fs::path& file, uint64_t fingerprint, const Cifar10& data) {
  for (const ImageSet* set : {&data.train, &data.test})
    CONVLAB_CHECK(set->images.size() == set->labels.size() * kCifarImageBytes,
                  "an image set holds {} pixel bytes for {} labels", set->images.size(), set->labels.size());
  const fs::path folder = file.parent_path();
  std::error_code error;
  if (fs::exists(folder, error) && !fs::is_directory(folder, error))
    CONVLAB_FAIL("{} is a file, not a folder", folder.string());
  if (fs::create_directories(folder, error); error)
    CONVLAB_FAIL("cannot create the folder {}: {}", folder.string(), error.message());
  // Unique per process and call, so concurrent writers never share a temporary file.
  const fs::path temporary =
      file.parent_path() /
      fmt::format("{}.{}.tmp", file.filename().string(), writer_tag(fmt::format("{:08x}", std::random_device{}())));
  try {
    Writer writer(temporary);
    Header header{};
    std::memcpy(header.magic, kMagic, sizeof(kMagic));
    header.version = kVersion;
    header.class_count = static_cast<uint32_t>(data.class_names.size());
    header.fingerprint = fingerprint;
    header.train_count = static_cast<uint64_t>(data.train.size());
    header.test_count = static_cast<uint64_t>(data.test.size());
    writer.write(&header, sizeof(header));
    for (const std::string& name : data.class_names) writer.write_string(name);
    writer.write_string(data.source_description);
    for (const ImageSet* set : {&data.train, &data.test}) {
      writer.write(set->images.data(), set->images.size());
      writer.write(set->labels.data(), set->labels.size());
    }
    writer.close();
    fs::rename(temporary, file);
  } catch (...) {
    std::error_code ignored;
    fs::remove(temporary, ignored);
    throw;
  }
}

}  // namespace convlab
