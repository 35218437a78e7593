#include "framework/core/error.h"

namespace convlab {

void throw_error(const char* file, int line, const std::string& message) {
  throw Error(fmt::format("{} ({}:{})", message, file, line));
}

std::string message_excerpt(std::string_view text, std::string_view quote) {
  constexpr size_t kMaxShown = 200;
  if (text.size() <= kMaxShown) return fmt::format("{}{}{}", quote, text, quote);
  return fmt::format("{}{}...{} ({} characters)", quote, text.substr(0, kMaxShown), quote, text.size());
}

}  // namespace convlab
