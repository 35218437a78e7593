// A scratch folder per test, so that tests running side by side (ctest -j) never share files.
#pragma once

#include <filesystem>
#include <string>

namespace convlab::test_support {

// temp/convlab-<topic>-<pid>-<test name>, emptied and created.
std::filesystem::path fresh_test_dir(const std::string& topic);

}  // namespace convlab::test_support
