// One way to fail: throw convlab::Error with a message that says what went wrong, where,
// and, when we know it, what to do about it.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace convlab {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] void throw_error(const char* file, int line, const std::string& message);

// Text read from an input (a file, a flag) as it appears in a message: whole, between
// `quote`s, up to 200 characters; longer, its first 200, "..." and its length, so that a
// junk input never floods the message.
std::string message_excerpt(std::string_view text, std::string_view quote = "");

}  // namespace convlab

// CONVLAB_CHECK(cond, fmt, args...): throws convlab::Error naming the condition, file and line.
#define CONVLAB_CHECK(cond, ...)                                                           \
  do {                                                                                     \
    if (!(cond))                                                                           \
      ::convlab::throw_error(__FILE__, __LINE__,                                           \
                             std::string("check failed: " #cond ": ") + fmt::format(__VA_ARGS__)); \
  } while (0)

#define CONVLAB_FAIL(...) ::convlab::throw_error(__FILE__, __LINE__, fmt::format(__VA_ARGS__))
