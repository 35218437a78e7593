// The message a convlab::Error carries, for tests of what bad input is told.
#pragma once

#include <functional>
#include <string>

namespace convlab::test_support {

// Runs body and returns the what() of the convlab::Error it throws, or "" if it throws none.
std::string error_of(const std::function<void()>& body);

}  // namespace convlab::test_support
