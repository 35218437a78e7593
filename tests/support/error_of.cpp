#include "tests/support/error_of.h"

#include "framework/core/error.h"

namespace convlab::test_support {

std::string error_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

}  // namespace convlab::test_support
