// The per-epoch progress bar: drawn in place on a terminal, silent otherwise.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>

namespace convlab {

class ProgressBar {
 public:
  // Draws only when `enabled` and `stream` is a terminal.
  ProgressBar(std::FILE* stream, bool enabled, int64_t epoch, int64_t epochs, int64_t total_steps, int64_t batch);
  // Whether a redraw is due (at most ~4 per second), so callers fetch numbers only then.
  bool due() const;
  void update(int64_t steps_done, double running_loss, double running_accuracy);
  void finish();  // clears the line

 private:
  std::FILE* stream_;
  bool active_;
  int64_t epoch_, epochs_, total_steps_, batch_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace convlab
