#include "framework/data/image_folder.h"

#include <stb_image.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>
#include <thread>

#include "framework/core/error.h"
#include "framework/data/cifar10_classes.h"
#include "framework/data/image_guard.h"

namespace convlab {
namespace fs = std::filesystem;

namespace {

std::string lower_extension(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

bool is_jpeg(const fs::path& path) {
  const std::string ext = lower_extension(path);
  return ext == ".jpg" || ext == ".jpeg";
}

bool is_image_file(const fs::path& path) { return is_jpeg(path) || lower_extension(path) == ".png"; }

std::vector<std::string> sorted_subfolders(const fs::path& dir) {
  std::vector<std::string> names;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir))
    if (entry.is_directory() && entry.path().filename().string()[0] != '.')
      names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

void list_split(const fs::path& split_dir, const std::vector<std::string>& classes, std::vector<LabelledFile>& out,
                bool& any_jpeg) {
  for (const std::string& name : sorted_subfolders(split_dir)) {
    const auto found = std::find(classes.begin(), classes.end(), name);
    CONVLAB_CHECK(found != classes.end(), "{} has a class folder '{}' that {} lacks", split_dir.string(), name,
                  (split_dir.parent_path() / "train").string());
    const auto label = static_cast<uint8_t>(found - classes.begin());
    std::vector<fs::path> files;
    for (const fs::directory_entry& entry : fs::directory_iterator(split_dir / name))
      if (entry.is_regular_file() && is_image_file(entry.path())) files.push_back(entry.path());
    std::sort(files.begin(), files.end(),
              [](const fs::path& a, const fs::path& b) { return a.filename().string() < b.filename().string(); });
    for (fs::path& file : files) {
      any_jpeg = any_jpeg || is_jpeg(file);
      out.push_back({std::move(file), label});
    }
  }
}

std::vector<uint8_t> read_file(const fs::path& path) {
  std::FILE* in = std::fopen(path.c_str(), "rb");
  CONVLAB_CHECK(in != nullptr, "cannot open {}: {}", path.string(), std::strerror(errno));
  std::vector<uint8_t> bytes;
  std::fseek(in, 0, SEEK_END);
  const long size = std::ftell(in);
  std::fseek(in, 0, SEEK_SET);
  bytes.resize(size > 0 ? static_cast<size_t>(size) : 0);
  const size_t got = std::fread(bytes.data(), 1, bytes.size(), in);
  std::fclose(in);
  CONVLAB_CHECK(got == bytes.size(), "cannot read {}: it ends at byte offset {} of {}", path.string(), got,
                bytes.size());
  return bytes;
}

// The format by its signature, whatever the file is called.
const char* image_format(const uint8_t* data, size_t size) {
  static const uint8_t kPng[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  static const uint8_t kJpeg[] = {0xff, 0xd8, 0xff};
  if (size >= sizeof(kPng) && std::memcmp(data, kPng, sizeof(kPng)) == 0) return "PNG";
  if (size >= sizeof(kJpeg) && std::memcmp(data, kJpeg, sizeof(kJpeg)) == 0) return "JPEG";
  return nullptr;
}

void decode_image(const fs::path& path, uint8_t* planar) {
  const std::vector<uint8_t> bytes = read_file(path);
  decode_image_bytes(bytes.data(), bytes.size(), path.string(), planar);
}

}  // namespace

void decode_image_bytes(const uint8_t* data, size_t size, const std::string& name, uint8_t* planar) {
  const char* format = image_format(data, size);
  if (format == nullptr) {
    std::string start;
    for (size_t i = 0; i < std::min<size_t>(size, 8); ++i) start += fmt::format(" {:02x}", data[i]);
    CONVLAB_FAIL("image {} ({} bytes) is neither PNG nor JPEG (it starts with{})", name, size,
                 size == 0 ? " nothing" : start);
  }
  CONVLAB_CHECK(size <= static_cast<size_t>(std::numeric_limits<int>::max()), "image {} ({} bytes) is too large",
                name, size);
  if (format[0] == 'J')
    check_jpeg_huffman_tables(data, size, name);
  else
    check_png_chunk_lengths(data, size, name);
  // The header first: a small file can promise a huge image, and stb would allocate it.
  int width = 0, height = 0, channels = 0;
  if (!stbi_info_from_memory(data, static_cast<int>(size), &width, &height, &channels))
    CONVLAB_FAIL("cannot read the {} header of image {} ({} bytes): truncated or corrupt (stb_image: {})", format, name,
                 size, stbi_failure_reason());
  if (width != 32 || height != 32 || channels != 3)
    CONVLAB_FAIL("image {} is a {}x{} {} with {} channel(s); CIFAR-10 images must be 32x32 RGB (3 channels)", name,
                 width, height, format, channels);
  uint8_t* pixels = stbi_load_from_memory(data, static_cast<int>(size), &width, &height, &channels, 0);
  if (pixels == nullptr)
    CONVLAB_FAIL("cannot decode {} image {} ({} bytes): truncated or corrupt (stb_image: {})", format, name, size,
                 stbi_failure_reason());
  if (width != 32 || height != 32 || channels != 3) {
    stbi_image_free(pixels);
    CONVLAB_FAIL("image {} is {}x{} with {} channel(s); CIFAR-10 images must be 32x32 RGB (3 channels)", name, width,
                 height, channels);
  }
  // Interleaved (32, 32, 3) to planar (3, 32, 32), the binary release's layout.
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 32 * 32; ++i) planar[c * 32 * 32 + i] = pixels[i * 3 + c];
  stbi_image_free(pixels);
}

bool is_image_folder(const fs::path& dir) { return fs::is_directory(dir / "train") && fs::is_directory(dir / "test"); }

ImageFolder list_image_folder(const fs::path& root) {
  ImageFolder folder;
  folder.root = root;
  folder.class_names = sorted_subfolders(root / "train");
  CONVLAB_CHECK(!folder.class_names.empty(), "{} has no class folders (expected train/<class>/<image>)",
                (root / "train").string());
  CONVLAB_CHECK(folder.class_names.size() <= 256, "{} has {} class folders; labels are stored in one byte (<= 256)",
                (root / "train").string(), folder.class_names.size());
  std::vector<std::string> canonical = cifar10_class_names();
  std::sort(canonical.begin(), canonical.end());
  if (folder.class_names == canonical) folder.class_names = cifar10_class_names();
  list_split(root / "train", folder.class_names, folder.train, folder.any_jpeg);
  list_split(root / "test", folder.class_names, folder.test, folder.any_jpeg);
  CONVLAB_CHECK(!folder.train.empty(), "{} holds no .png or .jpg images", (root / "train").string());
  CONVLAB_CHECK(!folder.test.empty(), "{} holds no .png or .jpg images: the test split is empty",
                (root / "test").string());
  return folder;
}

ImageSet decode_image_files(const std::vector<LabelledFile>& files) {
  ImageSet set;
  set.labels.resize(files.size());
  set.images.resize(files.size() * kCifarImageBytes);
  for (size_t i = 0; i < files.size(); ++i) set.labels[i] = files[i].label;

  // Each file has its own output slot, so the result does not depend on the thread count.
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr first_error;
  std::mutex error_mutex;
  auto work = [&] {
    while (!failed.load(std::memory_order_relaxed)) {
      const size_t i = next.fetch_add(1);
      if (i >= files.size()) return;
      try {
        decode_image(files[i].path, set.images.data() + i * kCifarImageBytes);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!first_error) first_error = std::current_exception();
        failed = true;
      }
    }
  };
  const size_t threads =
      std::clamp<size_t>(std::min<size_t>(std::thread::hardware_concurrency(), files.size() / 256), 1, 32);
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& thread : pool) thread.join();
  if (first_error) std::rethrow_exception(first_error);
  return set;
}

}  // namespace convlab
