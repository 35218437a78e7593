#include "framework/plot/ticks.h"

#include <algorithm>
#include <cmath>

#include "framework/core/error.h"

namespace convlab {

Ticks nice_ticks(double low, double high, int max_intervals, bool snap, bool integer_steps) {
  CONVLAB_CHECK(std::isfinite(low) && std::isfinite(high) && low <= high, "axis range [{}, {}] is not a finite interval",
                low, high);
  CONVLAB_CHECK(std::isfinite(high - low), "axis range [{}, {}] is too wide", low, high);
  CONVLAB_CHECK(max_intervals >= 1, "max_intervals must be >= 1, got {}", max_intervals);
  if (high - low <= std::abs(high) * 1e-12) {  // one value: show a little around it
    const double half = low == 0 ? 1.0 : std::abs(low) * 0.1;
    low -= half;
    high += half;
  }
  const double range = high - low;
  double step = 0;
  for (double magnitude = std::pow(10.0, std::floor(std::log10(range / max_intervals))); step == 0; magnitude *= 10) {
    for (double factor : {1.0, 2.0, 2.5, 5.0}) {
      const double candidate = factor * magnitude;
      if (integer_steps && candidate < 1.0) continue;
      if (integer_steps && factor == 2.5 && candidate < 10.0) continue;  // 2.5 is not a whole number
      const double intervals = std::ceil(high / candidate - 1e-9) - std::floor(low / candidate + 1e-9);
      if (intervals <= max_intervals) {
        step = candidate;
        break;
      }
    }
  }
  Ticks ticks;
  ticks.step = step;
  const double first = std::floor(low / step + 1e-9), last = std::ceil(high / step - 1e-9);
  ticks.low = snap ? first * step : low;
  ticks.high = snap ? last * step : high;
  // Counted in integers: near 2^53 adding 1 to a double can change nothing.
  const int count = static_cast<int>(std::min(last - first, 1000.0));
  for (int i = 0; i <= count; ++i) {
    const double value = (first + i) * step;
    const double tolerance = step * 1e-9;
    if (value >= ticks.low - tolerance && value <= ticks.high + tolerance) ticks.values.push_back(value == 0 ? 0.0 : value);
  }
  return ticks;
}

std::string format_tick(double value, double step) {
  if (!std::isfinite(value)) return fmt::format("{}", value);
  const double size = std::max(std::abs(value), std::abs(step));
  if (size >= 1e6 || (step > 0 && step < 1e-4)) return fmt::format("{:g}", value);
  int decimals = 0;
  while (decimals < 8) {
    const double scaled = step * std::pow(10.0, decimals);
    if (std::abs(scaled - std::round(scaled)) < 1e-6 * std::max(1.0, scaled)) break;
    ++decimals;
  }
  std::string text = fmt::format("{:.{}f}", value, decimals);
  if (text.find_first_not_of("-0.") == std::string::npos && text[0] == '-') text.erase(0, 1);  // "-0.0" -> "0.0"
  return text;
}

}  // namespace convlab
