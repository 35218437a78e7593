// A folder holds one thing: one training run, one analysis or one feature export, written by
// one process at a time. Every convlab writer of an output folder goes through here:
//   - FolderLock: an exclusive lock on the folder for the writer's whole life (flock on its
//     .convlab-lock file, which records who holds it and what the folder holds). A second
//     writer is refused at once, naming the holder; the lock of a dead process is taken over.
//   - folder_content: what a folder holds, so that a run is never written over an analysis,
//     an analysis never replaces a run, and a user's own files are never touched.
//   - ReplacedFolder: an output that is replaced as a whole (analyses, feature exports): it is
//     written into a staging folder beside the target and swapped in at the end, so the folder
//     holds the old output or the new one, never a mix, whenever the writer is killed.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace convlab {

// What an output folder holds (or is meant to hold).
enum class FolderKind { training_run, analysis, feature_export };
std::string to_string(FolderKind kind);  // "training run", "analysis", "feature export"

// A path as the user means it: "~" and "~/..." become $HOME and $HOME/... (a shell does this
// for an unquoted --output ~/x, but not for a config's experiment_dir or a quoted flag).
// "~user/..." is refused: only one's own home is expanded.
std::filesystem::path expand_home(const std::string& path);

// An output folder as a name in its parent: "out/" is "out", and "." or ".." the absolute
// folder, so that a staging folder beside it is never inside it. Every function here takes
// its folders through it.
std::filesystem::path folder_path(const std::filesystem::path& dir);

// The lock file in every folder convlab writes.
inline constexpr const char* kLockFileName = ".convlab-lock";

// What a folder holds now. Not a folder, or missing: nullopt from folder_kind, and
// folder_is_empty says so. Judged first by the lock file's record, then by the files an
// older convlab left (a run's config.yaml, metrics.csv, resume.safetensors or checkpoints/;
// an analysis's summary.json; an export's manifest.json).
std::optional<FolderKind> folder_kind(const std::filesystem::path& dir);
// Whether `dir` holds nothing but a lock file and temporaries (or does not exist).
bool folder_is_empty(const std::filesystem::path& dir);
// Up to `count` names of entries of `dir` that a convlab output of `kind` does not write,
// for messages about a folder that holds something else.
std::vector<std::string> foreign_entries(const std::filesystem::path& dir, FolderKind kind, size_t count = 3);

// The exclusive lock of one process on one folder. Move-only; released when destroyed (and
// by the kernel when the process dies: a killed writer never leaves a folder locked).
class FolderLock {
 public:
  // Creates `dir` when missing, then locks it for `program` (e.g. "convlab-train") writing a
  // `kind`. Throws an Error saying which process holds it (pid, host, since when, doing what)
  // when another one does; one naming `flag` (the option that chose the folder) when the
  // folder cannot be created or written (a file in its place, a read-only mount), and when
  // it holds another kind of output (a run is never written into an analysis, nor an
  // analysis over a run) or, not empty, nothing convlab wrote. A refused folder is left as
  // it was.
  static FolderLock acquire(const std::filesystem::path& dir, FolderKind kind, std::string_view program,
                            std::string_view flag = "--output");
  FolderLock(FolderLock&& other) noexcept;
  FolderLock& operator=(FolderLock&& other) noexcept;
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;
  ~FolderLock();

  const std::filesystem::path& dir() const { return dir_; }
  // What the folder held when the lock was taken, by its lock file's record or, for a folder
  // of an older convlab, its files; nullopt for an empty folder (or one holding only
  // things convlab does not write).
  const std::optional<FolderKind>& held() const { return held_; }
  // The record of a dead process whose lock this one took over, when there was one: for a
  // line in the log ("took over the folder from pid 123, which is gone").
  const std::optional<std::string>& taken_over() const { return taken_over_; }

  // Moves what the folder holds aside, to "<dir>.replaced-<YYYYmmdd-HHMMSS>" beside it (with
  // "-2", "-3", ... when that exists), leaving the folder empty but for a lock file that
  // this lock now holds; returns where the old content went. One rename (RENAME_EXCHANGE)
  // where the file system has it, so the folder is never missing.
  std::filesystem::path move_contents_aside();

 private:
  FolderLock() = default;
  void release();

  std::filesystem::path dir_;
  int fd_ = -1;
  FolderKind kind_ = FolderKind::training_run;
  std::string program_;
  std::optional<FolderKind> held_;
  std::optional<std::string> taken_over_;
};

// An output folder written whole: construct, write into staging(), commit(). Not committed
// (an error, a kill): the target keeps its old content and the staging folder is removed
// (by the destructor, or by the next writer of the target when the process died).
class ReplacedFolder {
 public:
  // Locks `target` (creating it when missing) and refuses a target that holds another kind
  // of output, or files convlab does not write there (naming a few and `flag`); a previous
  // output of the same kind is fine: it is what commit() replaces. Removes the staging
  // folders and temporaries that dead writers left beside and in the target.
  ReplacedFolder(const std::filesystem::path& target, FolderKind kind, std::string_view program,
                 std::string_view flag = "--output");
  ReplacedFolder(const ReplacedFolder&) = delete;
  ReplacedFolder& operator=(const ReplacedFolder&) = delete;
  ~ReplacedFolder();

  const std::filesystem::path& target() const { return target_; }
  // Where to write: a fresh folder beside the target, ".<name>.staging.<pid>@<host>".
  const std::filesystem::path& staging() const { return staging_; }
  // The path `file` (inside staging()) will have once committed, for messages and records.
  std::filesystem::path final_path(const std::filesystem::path& file) const;
  // Swaps the staging folder in for the target; the previous output is removed.
  void commit();

 private:
  std::filesystem::path target_, staging_;
  FolderKind kind_;
  std::string program_;
  FolderLock target_lock_;
  std::optional<FolderLock> staging_lock_;
  bool committed_ = false;
};

}  // namespace convlab
