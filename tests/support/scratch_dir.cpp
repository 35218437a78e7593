#include "tests/support/scratch_dir.h"

#include <fmt/core.h>
#include <gtest/gtest.h>
#include <unistd.h>

namespace convlab::test_support {

std::filesystem::path fresh_test_dir(const std::string& topic) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      fmt::format("convlab-{}-{}-{}", topic, ::getpid(), ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace convlab::test_support
