#include "framework/io/cli_numbers.h"

#include <charconv>
#include <cmath>
#include <string>

#include "framework/core/error.h"

namespace convlab {
int64_t parse_int_flag(std::string_view flag, std::string_view text, int64_t min, int64_t max) {
  int64_t value = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  if (!text.empty() && text.front() == '+') ++begin;  // "+5" is as clear as "5"
  const auto [stop, ec] = std::from_chars(begin, end, value);
  if (text.empty() || ec == std::errc::invalid_argument || stop != end)
    CONVLAB_FAIL("{} expects a whole number in {}..{}, got '{}'", flag, min, max, message_excerpt(text));
  if (ec == std::errc::result_out_of_range || value < min || value > max)
    CONVLAB_FAIL("{} must be in {}..{}, got {}", flag, min, max, message_excerpt(text));
  return value;
}

double parse_number_flag(std::string_view flag, std::string_view text, double min, double max, bool min_exclusive) {
  const std::string range = fmt::format("{}{}, {}]", min_exclusive ? "(" : "[", min, max);
  double value = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  if (!text.empty() && text.front() == '+') ++begin;
  const auto [stop, ec] = std::from_chars(begin, end, value);
  if (text.empty() || ec == std::errc::invalid_argument || stop != end)
    CONVLAB_FAIL("{} expects a number in {}, got '{}'", flag, range, message_excerpt(text));
  const bool below = min_exclusive ? !(value > min) : !(value >= min);
  if (ec == std::errc::result_out_of_range || !std::isfinite(value) || below || !(value <= max))
    CONVLAB_FAIL("{} must be in {}, got {}", flag, range, message_excerpt(text));
  return value;
}

}  // namespace convlab
