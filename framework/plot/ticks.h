// Axis ticks at round numbers (multiples of 1, 2, 2.5 or 5 times a power of ten) and their
// labels, shared by line plots and colour bars.
#pragma once

#include <string>
#include <vector>

namespace convlab {

struct Ticks {
  double low = 0, high = 1;  // the axis limits
  double step = 1;
  std::vector<double> values;  // ticks within [low, high]
};

// Ticks for data in [low, high] with at most max_intervals steps between ticks. snap widens
// the limits to the enclosing ticks; otherwise they stay [low, high]. integer_steps keeps the
// step >= 1 (epochs, counts). An empty range is widened around its value.
Ticks nice_ticks(double low, double high, int max_intervals = 6, bool snap = true, bool integer_steps = false);

// A tick label with as many decimals as step needs: 0.25 -> "0.25", 100 -> "100", -0 -> "0".
std::string format_tick(double value, double step);

}  // namespace convlab
