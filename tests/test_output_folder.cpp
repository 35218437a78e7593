// framework/io/output_folder.h: one writer per folder, one kind of output per folder, and
// outputs replaced whole.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "framework/core/error.h"
#include "framework/io/orphans.h"
#include "framework/io/output_folder.h"

namespace fs = std::filesystem;
using namespace convlab;

namespace {

class OutputFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / fmt::format("convlab-output-folder-{}-{}", ::getpid(),
                                                    ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  static void write(const fs::path& file, const std::string& text) {
    fs::create_directories(file.parent_path());
    std::ofstream(file) << text;
  }
  static std::string read(const fs::path& file) {
    std::ifstream in(file);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  // The message of the Error that `f` throws ("" when it throws none).
  template <class F>
  static std::string error_of(F&& f) {
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  // The pid of a process that has ended.
  static pid_t dead_pid() {
    const pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    ::waitpid(child, nullptr, 0);
    return child;
  }
  static std::string host() {
    const std::string tag = writer_tag();
    return tag.substr(tag.find('@') + 1);
  }
  fs::path root_;
};

}  // namespace

TEST_F(OutputFolder, ASecondWriterIsRefusedNamingTheHolderUntilTheFirstEnds) {
  const fs::path dir = root_ / "run";
  {
    FolderLock first = FolderLock::acquire(dir, FolderKind::training_run, "convlab-train");
    EXPECT_FALSE(first.taken_over());
    const std::string message =
        error_of([&] { FolderLock::acquire(dir, FolderKind::training_run, "convlab-train", "--output"); });
    EXPECT_NE(message.find(dir.string() + " is in use by pid " + std::to_string(::getpid())), std::string::npos)
        << message;
    EXPECT_NE(message.find("writing a training run (convlab-train)"), std::string::npos) << message;
    EXPECT_NE(message.find("choose another --output"), std::string::npos) << message;
  }
  // Released cleanly: the next writer takes it over from no one, and the record keeps the kind.
  FolderLock again = FolderLock::acquire(dir, FolderKind::training_run, "convlab-train");
  EXPECT_FALSE(again.taken_over());
  EXPECT_EQ(again.held(), FolderKind::training_run);
}

TEST_F(OutputFolder, AnotherProcessHoldingTheLockIsRefusedAndItsDeathFreesIt) {
  const fs::path dir = root_ / "run";
  int ready[2], finish[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(finish), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    FolderLock lock = FolderLock::acquire(dir, FolderKind::analysis, "convlab-analyze");
    char c = 1;
    (void)!::write(ready[1], &c, 1);
    (void)!::read(finish[0], &c, 1);
    ::_exit(0);  // killed, in effect: no destructor rewrites the record
  }
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  const std::string message = error_of([&] { FolderLock::acquire(dir, FolderKind::analysis, "convlab-analyze"); });
  EXPECT_NE(message.find("in use by pid " + std::to_string(child)), std::string::npos) << message;
  (void)!::write(finish[1], &c, 1);
  ::waitpid(child, nullptr, 0);
  FolderLock taken = FolderLock::acquire(dir, FolderKind::analysis, "convlab-analyze");
  ASSERT_TRUE(taken.taken_over());
  EXPECT_NE(taken.taken_over()->find("pid " + std::to_string(child)), std::string::npos) << *taken.taken_over();
}

TEST_F(OutputFolder, TheLockOfADeadWriterIsTakenOver) {
  const fs::path dir = root_ / "run";
  const pid_t gone = dead_pid();
  write(dir / kLockFileName, fmt::format("pid: {}\nhost: {}\nstarted: then\nprogram: convlab-train\nholds: training run\n",
                                         gone, host()));
  FolderLock lock = FolderLock::acquire(dir, FolderKind::training_run, "convlab-train");
  ASSERT_TRUE(lock.taken_over());
  EXPECT_NE(lock.taken_over()->find(std::to_string(gone)), std::string::npos);
  EXPECT_NE(read(dir / kLockFileName).find("pid: " + std::to_string(::getpid())), std::string::npos);
}

TEST_F(OutputFolder, AFolderOfAnotherKindOrOfForeignFilesIsRefusedAndLeftAsItWas) {
  write(root_ / "analysis" / "summary.json", "{}");
  std::string message = error_of([&] { FolderLock::acquire(root_ / "analysis", FolderKind::training_run, "convlab-train"); });
  EXPECT_NE(message.find("holds an analysis, and a training run must not be written into it"), std::string::npos)
      << message;
  EXPECT_FALSE(fs::exists(root_ / "analysis" / kLockFileName));

  write(root_ / "run" / "metrics.csv", "epoch\n");
  message = error_of([&] { FolderLock::acquire(root_ / "run", FolderKind::analysis, "convlab-analyze"); });
  EXPECT_NE(message.find("holds a training run"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(root_ / "run" / kLockFileName));

  write(root_ / "mine" / "notes.txt", "mine");
  message = error_of([&] { FolderLock::acquire(root_ / "mine", FolderKind::training_run, "convlab-train"); });
  EXPECT_NE(message.find("files that convlab did not write (notes.txt)"), std::string::npos) << message;
  EXPECT_EQ(read(root_ / "mine" / "notes.txt"), "mine");

  write(root_ / "file", "x");
  message = error_of([&] { FolderLock::acquire(root_ / "file", FolderKind::analysis, "convlab-analyze"); });
  EXPECT_NE(message.find("is a file, not a folder: choose another --output"), std::string::npos) << message;
}

TEST_F(OutputFolder, AnUnwritableFolderNamesTheFlag) {
  if (::geteuid() == 0) GTEST_SKIP() << "root writes into read-only folders";
  fs::create_directories(root_ / "ro");
  fs::permissions(root_ / "ro", fs::perms::owner_read | fs::perms::owner_exec);
  const std::string message = error_of([&] { FolderLock::acquire(root_ / "ro", FolderKind::analysis, "x"); });
  fs::permissions(root_ / "ro", fs::perms::owner_all);
  EXPECT_NE(message.find("cannot write to the folder"), std::string::npos) << message;
  EXPECT_NE(message.find("choose another --output"), std::string::npos) << message;
}

TEST_F(OutputFolder, AReplacedFolderHoldsTheOldOutputOrTheNewOneNeverAMix) {
  const fs::path target = root_ / "a";
  {
    ReplacedFolder out(target, FolderKind::analysis, "convlab-analyze");
    write(out.staging() / "summary.json", "first");
    write(out.staging() / "self_linear.npy", "old matrix");
    EXPECT_EQ(out.final_path(out.staging() / "summary.json"), target / "summary.json");
    out.commit();
  }
  EXPECT_EQ(read(target / "summary.json"), "first");
  {
    ReplacedFolder out(target, FolderKind::analysis, "convlab-analyze");
    write(out.staging() / "summary.json", "second, unfinished");
    EXPECT_EQ(read(target / "summary.json"), "first");  // until committed
  }  // not committed: the target keeps the first output, the staging folder goes
  EXPECT_EQ(read(target / "summary.json"), "first");
  for (const auto& entry : fs::directory_iterator(root_)) EXPECT_EQ(entry.path(), target);
  {
    ReplacedFolder out(target, FolderKind::analysis, "convlab-analyze");
    write(out.staging() / "summary.json", "third");
    out.commit();
  }
  EXPECT_EQ(read(target / "summary.json"), "third");
  EXPECT_FALSE(fs::exists(target / "self_linear.npy"));  // nothing of the first output stays beside it
  EXPECT_EQ(FolderLock::acquire(target, FolderKind::analysis, "x").held(), FolderKind::analysis);
}

TEST_F(OutputFolder, AReplacedFolderRefusesFilesItWouldDeleteAndRemovesWhatDeadWritersLeft) {
  const fs::path target = root_ / "features";
  write(target / "manifest.json", "{\"format\": \"convlab-features-1\"}");
  write(target / "notes.txt", "mine");
  const std::string message =
      error_of([&] { ReplacedFolder(target, FolderKind::feature_export, "convlab-analyze features"); });
  EXPECT_NE(message.find("(notes.txt)"), std::string::npos) << message;
  EXPECT_NE(message.find("would delete"), std::string::npos) << message;
  fs::remove(target / "notes.txt");

  const std::string dead = fmt::format("{}@{}", dead_pid(), host());
  write(root_ / (".features.staging." + dead) / "conv1.npy", std::string(1000, 'x'));
  write(target / ".conv1.npy.partial", "half");
  write(target / ("conv1.npy." + dead + ".tmp"), "half");
  ReplacedFolder out(target, FolderKind::feature_export, "convlab-analyze features");
  EXPECT_FALSE(fs::exists(root_ / (".features.staging." + dead)));
  EXPECT_FALSE(fs::exists(target / ".conv1.npy.partial"));
  EXPECT_FALSE(fs::exists(target / ("conv1.npy." + dead + ".tmp")));
  EXPECT_TRUE(fs::exists(out.staging()));
  // A second export into the same folder meanwhile is refused.
  const std::string busy = error_of([&] { ReplacedFolder(target, FolderKind::feature_export, "x"); });
  EXPECT_NE(busy.find("is in use by pid"), std::string::npos) << busy;
}

TEST_F(OutputFolder, ATrailingSlashOrDotNamesTheFolderItself) {
  {
    ReplacedFolder out((root_ / "a").string() + "/", FolderKind::analysis, "x");
    EXPECT_EQ(out.target(), root_ / "a");
    EXPECT_EQ(out.staging().parent_path(), root_);
    write(out.staging() / "summary.json", "{}");
    out.commit();
  }
  EXPECT_TRUE(fs::exists(root_ / "a" / "summary.json"));
  ReplacedFolder dot(root_ / "a" / ".", FolderKind::analysis, "x");
  EXPECT_EQ(dot.target(), root_ / "a");
  EXPECT_EQ(dot.staging().parent_path(), root_);
}

TEST_F(OutputFolder, ContentsMovedAsideLeaveTheFolderEmptyAndStillLocked) {
  const fs::path dir = root_ / "run";
  FolderLock lock = FolderLock::acquire(dir, FolderKind::training_run, "convlab-train");
  write(dir / "metrics.csv", "old");
  write(dir / "checkpoints" / "epoch_0003.safetensors", "old");
  const fs::path aside = lock.move_contents_aside();
  EXPECT_EQ(aside.parent_path(), root_);
  EXPECT_EQ(aside.filename().string().rfind("run.replaced-", 0), 0u) << aside;
  EXPECT_EQ(read(aside / "metrics.csv"), "old");
  EXPECT_TRUE(fs::exists(aside / "checkpoints" / "epoch_0003.safetensors"));
  EXPECT_TRUE(folder_is_empty(dir));
  EXPECT_EQ(lock.dir(), dir);
  const std::string message = error_of([&] { FolderLock::acquire(dir, FolderKind::training_run, "convlab-train"); });
  EXPECT_NE(message.find("is in use by pid"), std::string::npos) << message;
  // The same second again goes to another name, never over the first.
  write(dir / "metrics.csv", "newer");
  const fs::path second = lock.move_contents_aside();
  EXPECT_NE(second, aside);
  EXPECT_EQ(read(aside / "metrics.csv"), "old");
  EXPECT_EQ(read(second / "metrics.csv"), "newer");
}

TEST_F(OutputFolder, HomeIsExpandedForOneselfOnly) {
  const char* home = std::getenv("HOME");
  ASSERT_NE(home, nullptr);
  EXPECT_EQ(expand_home("~/runs/x"), fs::path(home) / "runs/x");
  EXPECT_EQ(expand_home("~"), fs::path(home) / "");
  EXPECT_EQ(expand_home("runs/~x"), fs::path("runs/~x"));
  const std::string message = error_of([] { expand_home("~bob/runs"); });
  EXPECT_NE(message.find("only ~ and ~/..."), std::string::npos) << message;
}
