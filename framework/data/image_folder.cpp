#include "framework/data/image_folder.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>

#include "framework/core/error.h"
#include "framework/data/cifar10_classes.h"
#include "framework/data/image_decoder.h"

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

}  // namespace

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
    std::unique_ptr<ImageDecoder> decoder;
    while (!failed.load(std::memory_order_relaxed)) {
      const size_t i = next.fetch_add(1);
      if (i >= files.size()) return;
      try {
        if (!decoder) decoder = std::make_unique<ImageDecoder>();
        decoder->decode(read_file(files[i].path), files[i].path.string(), set.images.data() + i * kCifarImageBytes);
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
