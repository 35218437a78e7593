#include "framework/train/progress.h"

#include <fmt/core.h>
#include <unistd.h>

#include <string>

namespace convlab {

ProgressBar::ProgressBar(std::FILE* stream, bool enabled, int64_t epoch, int64_t epochs, int64_t total_steps,
                         int64_t batch)
    : stream_(stream),
      active_(enabled && isatty(fileno(stream))),
      epoch_(epoch),
      epochs_(epochs),
      total_steps_(total_steps),
      batch_(batch),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

bool ProgressBar::due() const {
  return active_ && std::chrono::steady_clock::now() - last_draw_ > std::chrono::milliseconds(250);
}

void ProgressBar::update(int64_t steps_done, double running_loss, double running_accuracy) {
  if (!active_) return;
  last_draw_ = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(last_draw_ - start_).count();
  const double rate = steps_done > 0 ? steps_done * batch_ / elapsed : 0;
  const double eta = steps_done > 0 ? elapsed * (total_steps_ - steps_done) / steps_done : 0;
  constexpr int kWidth = 28;
  const int filled = static_cast<int>(kWidth * steps_done / std::max<int64_t>(total_steps_, 1));
  fmt::print(stream_, "\repoch {}/{} [{}{}] {}/{}  {:.0f} img/s  ETA {:.0f}s  loss {:.4f}  acc {:.1f}%\x1b[K", epoch_,
             epochs_, std::string(filled, '#'), std::string(kWidth - filled, '.'), steps_done, total_steps_, rate, eta,
             running_loss, 100 * running_accuracy);
  std::fflush(stream_);
}

void ProgressBar::finish() {
  if (!active_) return;
  fmt::print(stream_, "\r\x1b[K");
  std::fflush(stream_);
}

}  // namespace convlab
