#include "tests/support/source_paths.h"

#include <cstdlib>

namespace convlab::test_support {
namespace {

std::string from_environment(const char* name, const char* built) {
  const char* value = std::getenv(name);
  return value && *value ? value : built;
}

}  // namespace

std::string source_dir() { return from_environment("CONVLAB_SOURCE_DIR", CONVLAB_SOURCE_DIR); }
std::string train_exe() { return from_environment("CONVLAB_TRAIN_EXE", CONVLAB_TRAIN_EXE); }

}  // namespace convlab::test_support
