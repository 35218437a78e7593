#include "framework/data/cifar10.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>

#include "framework/core/error.h"
#include "framework/data/cifar10_binary.h"
#include "framework/data/dataset_cache.h"
#include "framework/data/fingerprint.h"
#include "framework/data/image_decoder.h"
#include "framework/data/image_folder.h"
#include "framework/data/tar_reader.h"
#include "framework/io/orphans.h"

namespace convlab {
namespace fs = std::filesystem;

namespace {

constexpr const char* kHowToGet =
    "Get CIFAR-10 with tools/fetch-cifar10.sh (downloads the official binary release into ./data), "
    "or use the image-folder copy (e.g. shared/data/cifar10-jpg.tar.gz, as the archive or extracted)";

constexpr const char* kExpectedLayouts =
    "a CIFAR-10 binary release folder (data_batch_1.bin .. data_batch_5.bin and test_batch.bin), "
    "an image folder (train/<class>/*.png|jpg and test/<class>/*.png|jpg), "
    "either of them one level down (e.g. cifar-10-batches-bin/ or cifar10-jpg/), "
    "or a .tar.gz/.tgz of one of them";

enum class Layout { binary, image_folder };

struct DataRoot {
  Layout layout;
  fs::path dir;
};

std::optional<DataRoot> layout_of(const fs::path& dir) {
  if (is_cifar10_binary_folder(dir)) return DataRoot{Layout::binary, dir};
  if (is_image_folder(dir)) return DataRoot{Layout::image_folder, dir};
  return std::nullopt;
}

// The data in `dir` itself, else in one of its subfolders (taken in sorted order).
std::optional<DataRoot> find_data_root(const fs::path& dir) {
  if (auto root = layout_of(dir)) return root;
  std::vector<fs::path> subfolders;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir))
    if (entry.is_directory()) subfolders.push_back(entry.path());
  std::sort(subfolders.begin(), subfolders.end());
  for (const fs::path& sub : subfolders)
    if (auto root = layout_of(sub)) return root;
  return std::nullopt;
}

bool is_archive(const fs::path& path) {
  const std::string name = path.filename().string();
  const auto ends_with = [&](const std::string& suffix) {
    return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends_with(".tar.gz") || ends_with(".tgz") || ends_with(".tar");
}

// What a data root holds, decoded, with the files that make it up (for the fingerprint).
struct PreparedSource {
  std::vector<fs::path> files;
  std::function<Cifar10()> decode;
};

PreparedSource prepare(const DataRoot& root, const std::string& where) {
  PreparedSource prepared;
  if (root.layout == Layout::binary) {
    prepared.files = cifar10_binary_files(root.dir);
    prepared.decode = [files = prepared.files, where] {
      Cifar10 data;
      std::vector<fs::path> train_files(files.begin(), files.end() - 1);
      data.train = read_cifar10_batches(train_files);
      data.test = read_cifar10_batches({files.back()});
      data.class_names = cifar10_class_names();
      data.source_description = fmt::format("CIFAR-10 (official binary release) at {}", where);
      return data;
    };
    return prepared;
  }
  auto folder = std::make_shared<ImageFolder>(list_image_folder(root.dir));
  for (const auto* split : {&folder->train, &folder->test})
    for (const LabelledFile& file : *split) prepared.files.push_back(file.path);
  prepared.decode = [folder, where] {
    Cifar10 data;
    data.train = decode_image_files(folder->train);
    data.test = decode_image_files(folder->test);
    data.class_names = folder->class_names;
    const bool canonical = data.class_names == cifar10_class_names();
    data.source_description = fmt::format("{} image folder at {}",
                                          canonical ? (folder->any_jpeg ? "CIFAR-10 (JPEG copy)" : "CIFAR-10")
                                                    : fmt::format("{}-class", data.class_names.size()),
                                          where);
    return data;
  };
  return prepared;
}

constexpr const char* kPickCacheDir = "pass --cache-dir DIR or set $CONVLAB_CACHE_DIR to a writable folder";

// Decodes once and caches; later calls with an unchanged source read the cache. `decode`
// returns only a set that matches the source the fingerprint stands for.
Cifar10 load_cached(const fs::path& cache_file, uint64_t fingerprint, const std::function<Cifar10()>& decode) {
  if (std::optional<Cifar10> cached = read_dataset_cache(cache_file, fingerprint)) {
    cached->source_description += fmt::format(", read from the cache {}", cache_file.string());
    cached->fingerprint = fingerprint;
    return std::move(*cached);
  }
  Cifar10 data = decode();
  data.fingerprint = fingerprint;
  try {
    write_dataset_cache(cache_file, fingerprint, data);
  } catch (const std::exception& error) {
    // The data is good and the cache only saves time: a read-only cache must not stop a run.
    fmt::print(stderr,
               "convlab: warning: cannot write the data cache {}: {}; going on without it, so every run decodes "
               "the data again ({} to keep it)\n",
               cache_file.string(), error.what(), kPickCacheDir);
  }
  return data;
}

// Decodes `prepared`, whose files had the fingerprint_files `before`; the set is returned
// only when they still have it (see check_files_unchanged).
Cifar10 decode_unchanged(const PreparedSource& prepared, const fs::path& root, uint64_t before,
                         const std::string& source) {
  Cifar10 data = prepared.decode();
  check_files_unchanged(root, prepared.files, before, source);
  return data;
}

// An archive is extracted into the cache folder, so unlike the decoded-set cache it cannot
// be done without: an unusable folder is an error that says how to pick another.
void check_cache_dir_writable(const fs::path& cache_dir, const fs::path& archive) {
  std::error_code error;
  std::string why;
  if (fs::exists(cache_dir, error) && !fs::is_directory(cache_dir, error)) {
    why = "it is a file, not a folder";
  } else if (fs::create_directories(cache_dir, error); error) {
    why = error.message();
  } else {
    // Named like a temporary file, so that one left by a killed run is removed later.
    const fs::path probe = cache_dir / fmt::format(".convlab-write-test.{}.tmp", writer_tag());
    std::FILE* file = std::fopen(probe.c_str(), "wb");
    if (!file) why = std::strerror(errno);
    if (file) std::fclose(file);
    fs::remove(probe, error);
  }
  if (!why.empty())
    CONVLAB_FAIL("cannot extract {}: the data cache folder {} is not writable ({}); {}", archive.string(),
                 cache_dir.string(), why, kPickCacheDir);
}

// The archive's own identity keys both caches, so a cached set needs no extraction at all.
// Whatever it holds may be images, so the decoders count too.
uint64_t archive_fingerprint(const fs::path& archive) {
  Fnv1a hash;
  hash.add(fs::weakly_canonical(archive).generic_string());
  hash.add(static_cast<uint64_t>(fs::file_size(archive)));
  hash.add(static_cast<uint64_t>(fs::last_write_time(archive).time_since_epoch().count()));
  hash.add(image_decoder_identity());
  return hash.value();
}

Cifar10 load_archive(const fs::path& archive, const fs::path& cache_dir) {
  const uint64_t fingerprint = archive_fingerprint(archive);
  return load_cached(dataset_cache_file(cache_dir, fingerprint), fingerprint, [&] {
    check_cache_dir_writable(cache_dir, archive);
    // Reused only while it matches the listing taken when it was extracted (else extracted
    // again): what is decoded, and cached under the archive's fingerprint, is what it holds.
    const fs::path extracted = cache_dir / fmt::format("extracted-{:016x}", fingerprint);
    extract_tar_once(archive, extracted);
    const std::optional<DataRoot> root = find_data_root(extracted);
    if (!root)
      CONVLAB_FAIL("the archive {} (extracted into {}) holds none of: {}. {}", archive.string(), extracted.string(),
                   kExpectedLayouts, kHowToGet);
    const fs::path inside = root->dir.lexically_relative(extracted);
    const std::string where =
        inside == "." ? archive.string() : fmt::format("{} ({})", archive.string(), inside.generic_string());
    const PreparedSource prepared = prepare(*root, where);
    const std::string source = fmt::format("the extraction {}", extracted.string());
    Cifar10 data = decode_unchanged(prepared, root->dir, fingerprint_files(root->dir, prepared.files), source);
    // Nothing deleted or added since it was checked either (the files decoded were listed
    // after the check), and the archive is still the one the fingerprint names.
    if (const std::optional<std::string> change = extraction_damage(extracted, /*read_files=*/false))
      CONVLAB_FAIL("{} changed while it was being decoded ({}), so the decoded set matches none of its states and "
                   "was not cached; run again once nothing else writes to it",
                   source, *change);
    bool same_archive = false;
    try {
      same_archive = archive_fingerprint(archive) == fingerprint;
    } catch (const std::exception&) {  // gone
    }
    if (!same_archive)
      CONVLAB_FAIL("{} changed while it was being extracted and decoded, so the decoded set was not cached; run "
                   "again once nothing else writes to it",
                   archive.string());
    return data;
  });
}

Cifar10 load_folder(const fs::path& dir, const fs::path& cache_dir) {
  const std::optional<DataRoot> root = find_data_root(dir);
  if (!root) CONVLAB_FAIL("{} holds none of: {}. {}", dir.string(), kExpectedLayouts, kHowToGet);
  const PreparedSource prepared = prepare(*root, root->dir.string());
  const uint64_t files_fingerprint = fingerprint_files(root->dir, prepared.files);
  uint64_t fingerprint = files_fingerprint;
  if (root->layout == Layout::image_folder) {
    // Pixels decoded by another decoder (or with other settings) must not be reused.
    Fnv1a hash;
    hash.add(fingerprint);
    hash.add(image_decoder_identity());
    fingerprint = hash.value();
  }
  return load_cached(dataset_cache_file(cache_dir, fingerprint), fingerprint,
                     [&] { return decode_unchanged(prepared, root->dir, files_fingerprint, root->dir.string()); });
}

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

// What killed loads left in the cache: half-written cache files and half-extracted
// archives of processes of this host that are gone. The cache may be shared between hosts,
// so another host's leftovers stay.
void remove_cache_leftovers(const fs::path& cache_dir) {
  remove_orphan_temporaries(cache_dir, /*other_hosts_gone=*/false);
  const std::string own_tag = writer_tag();
  const std::string this_host = own_tag.substr(own_tag.find('@') + 1);
  std::error_code error;
  for (fs::directory_iterator it(cache_dir, error), end; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    std::error_code ignored;
    if (name.rfind("extracted-", 0) == 0 && it->is_directory(ignored)) {
      // extracted-<fingerprint>.partial-<pid>@<host> (before the host was added: -<pid>)
      const size_t partial = name.find(".partial-");
      if (partial == std::string::npos) continue;
      std::string tag = name.substr(partial + 9);
      if (tag.find('@') == std::string::npos) tag = fmt::format("{}@{}", tag, this_host);
      if (writer_is_gone(tag, /*other_hosts_gone=*/false)) fs::remove_all(it->path(), ignored);
    } else if (const size_t at = name.find(".bin.tmp-"); name.rfind("cifar10-", 0) == 0 && at != std::string::npos) {
      // An older version's cache temporary: cifar10-<fingerprint>.bin.tmp-<pid>-<random>.
      const std::string tag = fmt::format("{}@{}", name.substr(at + 9), this_host);
      if (writer_is_gone(tag, /*other_hosts_gone=*/false)) fs::remove(it->path(), ignored);
    }
  }
}

}  // namespace

Cifar10 load_cifar10(const fs::path& source, const fs::path& cache_dir) {
  remove_cache_leftovers(cache_dir);
  if (!fs::exists(source))
    CONVLAB_FAIL("CIFAR-10 source {} does not exist; expected {}. {}", source.string(), kExpectedLayouts, kHowToGet);
  if (fs::is_directory(source)) return load_folder(source, cache_dir);
  if (!fs::is_regular_file(source) || !is_archive(source))
    CONVLAB_FAIL("CIFAR-10 source {} is not a folder nor a .tar.gz/.tgz/.tar archive; expected {}. {}", source.string(),
                 kExpectedLayouts, kHowToGet);
  return load_archive(source, cache_dir);
}

void check_class_count(const Cifar10& data, int num_classes) {
  int largest = -1;
  for (const ImageSet* set : {&data.train, &data.test})
    for (uint8_t label : set->labels) largest = std::max<int>(largest, label);
  const int classes = std::max<int>(static_cast<int>(data.class_names.size()), largest + 1);
  if (classes <= num_classes) return;
  std::string names;
  for (size_t i = 0; i < data.class_names.size() && i < 12; ++i) names += (i ? ", " : "") + data.class_names[i];
  if (data.class_names.size() > 12) names += ", ...";
  CONVLAB_FAIL("{} has {} classes ({}), but model_config.num_classes is {}: set num_classes to {} or use a data set "
               "with at most {} classes",
               data.source_description, classes, names, num_classes, classes, num_classes);
}

std::vector<fs::path> cifar10_search_paths(const std::optional<fs::path>& given) {
  if (given) return {*given};
  if (const std::string dir = env("CIFAR10_DIR"); !dir.empty()) return {dir};
  const fs::path here = fs::current_path();
  return {here / "data/cifar-10-batches-bin", here / "data/cifar10-jpg", here / "data/cifar10-jpg.tar.gz",
          here / "data/cifar-10-binary.tar.gz", (here / "../shared/data/cifar10-jpg.tar.gz").lexically_normal()};
}

fs::path find_cifar10(const std::optional<fs::path>& given) {
  const std::vector<fs::path> candidates = cifar10_search_paths(given);
  std::string looked;
  for (const fs::path& candidate : candidates) {
    if (fs::exists(candidate)) return candidate;
    looked += fmt::format("\n  {}", candidate.string());
  }
  const char* why = given                         ? "the given path does not exist"
                    : !env("CIFAR10_DIR").empty() ? "$CIFAR10_DIR points to nothing"
                                                  : "none of the usual places holds it";
  CONVLAB_FAIL("CIFAR-10 not found ({}). Looked at:{}\n{}; then pass its path or set CIFAR10_DIR.", why, looked,
               kHowToGet);
}

fs::path default_cache_dir() {
  if (const std::string dir = env("CONVLAB_CACHE_DIR"); !dir.empty()) return dir;
  if (const std::string dir = env("XDG_CACHE_HOME"); !dir.empty()) return fs::path(dir) / "convlab";
  if (const std::string home = env("HOME"); !home.empty()) return fs::path(home) / ".cache" / "convlab";
  return fs::temp_directory_path() / "convlab-cache";
}

}  // namespace convlab
