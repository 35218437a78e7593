#include "framework/io/output_folder.h"

#include <fcntl.h>
#include <stdio.h>  // renameat2
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <utility>

#include <fmt/core.h>

#include "framework/core/error.h"
#include "framework/io/orphans.h"

namespace convlab {
namespace fs = std::filesystem;

namespace {

constexpr const char* kKindKey = "holds";

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A file's first `limit` bytes ("" when it cannot be read).
std::string file_head(const fs::path& file, size_t limit = 4096) {
  std::ifstream in(file, std::ios::binary);
  std::string text(limit, '\0');
  in.read(text.data(), static_cast<std::streamsize>(limit));
  text.resize(static_cast<size_t>(std::max<std::streamsize>(in.gcount(), 0)));
  return text;
}

// The lock file's record: "key: value" lines.
std::string record_value(const std::string& record, std::string_view key) {
  std::istringstream lines(record);
  for (std::string line; std::getline(lines, line);)
    if (line.size() > key.size() + 1 && line.compare(0, key.size(), key) == 0 && line[key.size()] == ':')
      return line.substr(key.size() + 2 <= line.size() ? key.size() + 2 : key.size() + 1);
  return {};
}

// "a training run", "an analysis", "a feature export"
std::string with_article(const std::string& kind) { return (kind.rfind("analysis", 0) == 0 ? "an " : "a ") + kind; }

std::optional<FolderKind> parse_kind(const std::string& text) {
  for (FolderKind kind : {FolderKind::training_run, FolderKind::analysis, FolderKind::feature_export})
    if (text == to_string(kind)) return kind;
  return std::nullopt;
}

// What an older convlab's files say a folder holds (one without a lock record).
std::optional<FolderKind> kind_by_files(const fs::path& dir) {
  std::error_code error;
  if (fs::exists(dir / "metrics.csv", error) || fs::exists(dir / "resume.safetensors", error) ||
      fs::is_directory(dir / "checkpoints", error) ||
      file_head(dir / "config.yaml", 64).rfind("# convlab", 0) == 0)
    return FolderKind::training_run;
  if (fs::exists(dir / "summary.json", error)) return FolderKind::analysis;
  if (file_head(dir / "manifest.json").find("convlab-features") != std::string::npos) return FolderKind::feature_export;
  return std::nullopt;
}

std::string read_fd(int fd) {
  std::string text;
  char buffer[1024];
  for (off_t at = 0;;) {
    const ssize_t got = ::pread(fd, buffer, sizeof(buffer), at);
    if (got <= 0) break;
    text.append(buffer, static_cast<size_t>(got));
    at += got;
    if (text.size() > 64 * 1024) break;  // a record is a few lines; never read a huge junk file whole
  }
  return text;
}

void write_fd(int fd, const std::string& text) {
  if (::ftruncate(fd, 0) != 0) return;  // the lock is what matters; its record is for messages
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t wrote = ::pwrite(fd, text.data() + done, text.size() - done, static_cast<off_t>(done));
    if (wrote <= 0) return;
    done += static_cast<size_t>(wrote);
  }
}

std::string utc_now(const char* format) {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[64];
  std::strftime(text, sizeof(text), format, &utc);
  return text;
}

// "pid 123 on host h since 2026-12-06 14:30:00 UTC, writing a training run (convlab-train)"
std::string describe_holder(const std::string& record) {
  const std::string pid = record_value(record, "pid"), host = record_value(record, "host");
  if (pid.empty()) return "another process (its lock file names none)";
  std::string text = fmt::format("pid {} on host {}", pid, host.empty() ? "?" : host);
  if (const std::string since = record_value(record, "started"); !since.empty()) text += " since " + since;
  const std::string holds = record_value(record, kKindKey), program = record_value(record, "program");
  if (!holds.empty()) text += ", writing " + with_article(holds);
  if (!program.empty()) text += " (" + program + ")";
  return text;
}

}  // namespace

fs::path folder_path(const fs::path& dir) {
  auto without_slash = [](fs::path p) {
    return p.filename().empty() && p.has_relative_path() ? p.parent_path() : p;  // "out/" -> "out"
  };
  fs::path path = without_slash(dir.lexically_normal());
  const std::string name = path.filename().string();
  if (name.empty() || name == "." || name == "..") path = without_slash(fs::absolute(path).lexically_normal());
  return path;
}

namespace {

// Two sibling paths exchanged in one step where the file system can; else one after the
// other through a third name (the target is briefly missing then).
void exchange(const fs::path& a, const fs::path& b) {
  if (::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) == 0) return;
  const int why = errno;
  if (why != EINVAL && why != ENOSYS && why != ENOTSUP)
    CONVLAB_FAIL("cannot swap {} and {}: {}", a.string(), b.string(), std::strerror(why));
  const fs::path through = a.string() + ".swap." + writer_tag();
  std::error_code error;
  fs::rename(b, through, error);
  if (!error) fs::rename(a, b, error);
  if (!error) fs::rename(through, a, error);
  if (error) CONVLAB_FAIL("cannot swap {} and {}: {}", a.string(), b.string(), error.message());
}

// A fresh hidden folder beside `dir`, named after it and this process, so that a later writer
// can remove it when this process dies before using it.
fs::path staging_beside(const fs::path& dir) {
  const fs::path parent = dir.parent_path().empty() ? fs::path(".") : dir.parent_path();
  return parent / fmt::format(".{}.staging.{}", dir.filename().string(), writer_tag());
}

// The staging folders that dead writers of `dir` left beside it.
void remove_dead_stagings(const fs::path& dir) {
  const fs::path parent = dir.parent_path().empty() ? fs::path(".") : dir.parent_path();
  const std::string prefix = fmt::format(".{}.staging.", dir.filename().string());
  std::error_code error;
  for (fs::directory_iterator it(parent, error), end; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    if (!writer_is_gone(std::string_view(name).substr(prefix.size()), /*other_hosts_gone=*/false)) continue;
    std::error_code ignored;
    fs::remove_all(it->path(), ignored);
  }
}

// The hidden half-written files of an older feature export (".<name>.npy.partial").
void remove_partial_files(const fs::path& dir) {
  std::error_code error;
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    std::error_code ignored;
    if (name.size() > 1 && name[0] == '.' && ends_with(name, ".partial") && it->is_regular_file(ignored))
      fs::remove(it->path(), ignored);
  }
}

// Whether `name` is a file convlab writes into an output of `kind`.
bool written_by_convlab(const std::string& name, bool is_dir, FolderKind kind) {
  if (name == kLockFileName || ends_with(name, ".tmp") || ends_with(name, ".partial")) return true;
  switch (kind) {
    case FolderKind::training_run:
      return is_dir ? name == "checkpoints"
                    : name == "config.yaml" || name == "metrics.csv" || name == "metrics.jsonl" ||
                          name == "resume.safetensors" || name == "conv_algorithms.txt" ||
                          name.rfind("learning_curve.", 0) == 0;
    case FolderKind::analysis:
      for (const char* ext : {".npy", ".csv", ".png", ".pdf", ".svg", ".gif", ".json"})
        if (!is_dir && ends_with(name, ext)) return true;
      return false;
    case FolderKind::feature_export:
      return !is_dir && (ends_with(name, ".npy") || name == "manifest.json");
  }
  return false;
}

}  // namespace

std::string to_string(FolderKind kind) {
  switch (kind) {
    case FolderKind::training_run: return "training run";
    case FolderKind::analysis: return "analysis";
    case FolderKind::feature_export: return "feature export";
  }
  return "?";
}

fs::path expand_home(const std::string& path) {
  if (path.empty() || path[0] != '~') return path;
  CONVLAB_CHECK(path.size() == 1 || path[1] == '/',
                "'{}': only ~ and ~/... (your own home folder) are expanded; write the full path", path);
  const char* home = std::getenv("HOME");
  CONVLAB_CHECK(home != nullptr && home[0] != '\0', "'{}' starts with ~, but $HOME is not set: write the full path",
                path);
  return fs::path(home) / (path.size() > 2 ? path.substr(2) : std::string());
}

std::optional<FolderKind> folder_kind(const fs::path& dir) {
  std::error_code error;
  if (!fs::is_directory(dir, error)) return std::nullopt;
  if (auto kind = parse_kind(record_value(file_head(dir / kLockFileName), kKindKey))) return kind;
  return kind_by_files(dir);
}

bool folder_is_empty(const fs::path& dir) {
  std::error_code error;
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (name != kLockFileName && !ends_with(name, ".tmp")) return false;
  }
  return true;
}

std::vector<std::string> foreign_entries(const fs::path& dir, FolderKind kind, size_t count) {
  std::vector<std::string> found;
  std::error_code error;
  for (fs::directory_iterator it(dir, error), end; !error && it != end && found.size() < count; it.increment(error)) {
    std::error_code ignored;
    const std::string name = it->path().filename().string();
    const bool is_dir = it->is_directory(ignored);
    if (!written_by_convlab(name, is_dir, kind)) found.push_back(is_dir ? name + "/" : name);
  }
  return found;
}

FolderLock FolderLock::acquire(const fs::path& given, FolderKind kind, std::string_view program, std::string_view flag) {
  const fs::path dir = folder_path(given);
  std::error_code error;
  if (fs::exists(dir, error) && !fs::is_directory(dir, error))
    CONVLAB_FAIL("{} is a file, not a folder: choose another {}", dir.string(), flag);
  fs::create_directories(dir, error);
  if (error) CONVLAB_FAIL("cannot create the folder {} ({}): choose another {}", dir.string(), error.message(), flag);
  const fs::path file = dir / kLockFileName;
  const bool existed = fs::exists(file, error);
  const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    CONVLAB_FAIL("cannot write to the folder {} ({}): choose another {}", dir.string(), std::strerror(errno), flag);
  FolderLock lock;
  lock.dir_ = dir;
  lock.fd_ = fd;
  lock.kind_ = kind;
  lock.program_ = std::string(program);
  const std::string record = read_fd(fd);
  const std::string holder = fmt::format("{}@{}", record_value(record, "pid"), record_value(record, "host"));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int why = errno;
    if (why == EWOULDBLOCK || !writer_is_gone(holder, /*other_hosts_gone=*/false)) {
      lock.fd_ = -1;
      ::close(fd);
      CONVLAB_FAIL("{} is in use by {}. Wait for it to end, or choose another {}", dir.string(), describe_holder(record),
                   flag);
    }
    // A file system without flock (some network mounts): the record alone tells whether its
    // writer still runs, and it does not.
  }
  // A folder refused is left as it was: the lock file is removed when this created it, and
  // an existing record is not rewritten.
  auto refuse = [&](const std::string& message) {
    if (!existed) fs::remove(file, error);
    lock.release();
    CONVLAB_FAIL("{}", message);
  };
  lock.held_ = parse_kind(record_value(record, kKindKey));
  if (!lock.held_) lock.held_ = kind_by_files(dir);
  if (lock.held_ && *lock.held_ != kind) {
    refuse(fmt::format("{} holds {}, and {} must not be written into it: choose another {}", dir.string(),
                       with_article(to_string(*lock.held_)), with_article(to_string(kind)), flag));
  }
  if (!lock.held_ && !folder_is_empty(dir)) {
    std::vector<std::string> shown = foreign_entries(dir, kind);
    if (shown.empty()) shown = foreign_entries(dir, kind == FolderKind::training_run ? FolderKind::analysis
                                                                                     : FolderKind::training_run);
    std::string names;
    for (const std::string& name : shown) names += (names.empty() ? "" : ", ") + name;
    refuse(fmt::format("{} holds files that convlab did not write ({}): choose a new or empty folder for {}",
                       dir.string(), names, flag));
  }
  if (!record_value(record, "pid").empty()) lock.taken_over_ = describe_holder(record);
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) std::strcpy(host, "localhost");
  write_fd(fd, fmt::format("pid: {}\nhost: {}\nstarted: {}\nprogram: {}\n{}: {}\n", static_cast<long>(getpid()), host,
                           utc_now("%Y-%m-%d %H:%M:%S UTC"), program, kKindKey, to_string(kind)));
  return lock;
}

FolderLock::FolderLock(FolderLock&& other) noexcept { *this = std::move(other); }

FolderLock& FolderLock::operator=(FolderLock&& other) noexcept {
  if (this != &other) {
    release();
    dir_ = std::move(other.dir_);
    fd_ = std::exchange(other.fd_, -1);
    kind_ = other.kind_;
    program_ = std::move(other.program_);
    held_ = std::move(other.held_);
    taken_over_ = std::move(other.taken_over_);
  }
  return *this;
}

FolderLock::~FolderLock() { release(); }

void FolderLock::release() {
  if (fd_ < 0) return;
  // The record keeps what the folder holds and drops the holder: a record that still names a
  // process after its lock is gone was left by a writer that died.
  write_fd(fd_, fmt::format("{}: {}\n", kKindKey, to_string(kind_)));
  ::close(fd_);  // releases the flock
  fd_ = -1;
}

fs::path FolderLock::move_contents_aside() {
  CONVLAB_CHECK(fd_ >= 0, "move_contents_aside on a released lock");
  const std::string stem = dir_.string() + ".replaced-" + utc_now("%Y%m%d-%H%M%S");
  fs::path aside = stem;
  std::error_code error;
  for (int n = 2; fs::exists(aside, error); ++n) aside = fmt::format("{}-{}", stem, n);
  const fs::path staging = staging_beside(dir_);
  FolderLock fresh = acquire(staging, kind_, program_);
  exchange(staging, dir_);  // dir_ is now the fresh folder, `staging` the old content
  fs::rename(staging, aside, error);
  if (error) CONVLAB_FAIL("cannot move {} to {}: {}", staging.string(), aside.string(), error.message());
  fresh.dir_ = dir_;
  fresh.held_ = std::nullopt;
  fresh.taken_over_ = std::nullopt;
  *this = std::move(fresh);  // releases the old folder's lock, now aside
  return aside;
}

ReplacedFolder::ReplacedFolder(const fs::path& target, FolderKind kind, std::string_view program, std::string_view flag)
    : target_(folder_path(target)), kind_(kind), program_(program),
      target_lock_(FolderLock::acquire(target_, kind, program, flag)) {
  const std::vector<std::string> foreign = foreign_entries(target_, kind);
  if (!foreign.empty()) {
    std::string names;
    for (const std::string& name : foreign) names += (names.empty() ? "" : ", ") + name;
    CONVLAB_FAIL("{} holds {} but also files convlab did not write there ({}), which replacing it would delete: "
                 "move them, or choose another {}", target_.string(), with_article(to_string(kind)), names, flag);
  }
  remove_dead_stagings(target_);
  remove_orphan_temporaries(target_, /*other_hosts_gone=*/true);  // locked: no one else writes here
  remove_partial_files(target_);
  staging_ = staging_beside(target_);
  staging_lock_.emplace(FolderLock::acquire(staging_, kind, program, flag));
}

fs::path ReplacedFolder::final_path(const fs::path& file) const {
  const fs::path relative = file.lexically_relative(staging_);
  return relative.empty() || *relative.begin() == ".." ? file : target_ / relative;
}

void ReplacedFolder::commit() {
  CONVLAB_CHECK(!committed_, "{} was committed already", target_.string());
  exchange(staging_, target_);  // the target is the new output, `staging_` the old one
  committed_ = true;
  std::error_code ignored;
  fs::remove_all(staging_, ignored);
}

ReplacedFolder::~ReplacedFolder() {
  if (committed_) return;
  staging_lock_.reset();
  std::error_code ignored;
  fs::remove_all(staging_, ignored);
}

}  // namespace convlab
