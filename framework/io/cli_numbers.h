// Numbers from the command line, each checked against the range its flag accepts. Errors
// name the flag, the accepted range and the text given, so "--epochs 4294967297" is refused
// instead of wrapping to 1 and "--examples abc" says more than "stoll".
#pragma once

#include <cstdint>
#include <string_view>

namespace convlab {

// The whole of `text` as a base-10 integer in [min, max]; throws convlab::Error otherwise.
int64_t parse_int_flag(std::string_view flag, std::string_view text, int64_t min, int64_t max);

// The whole of `text` as a finite number in [min, max] (or (min, max] when min_exclusive).
double parse_number_flag(std::string_view flag, std::string_view text, double min, double max,
                         bool min_exclusive = false);

}  // namespace convlab
