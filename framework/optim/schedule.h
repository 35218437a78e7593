// The multistep learning-rate schedule as a pure function of the update count: lr is
// base * decay^k, k = how many milestones (in epochs) have been reached. An epoch has
// ceil(train_size / batch) updates, as in the reference.
#pragma once

#include <cstdint>
#include <vector>

namespace convlab::optim {

struct MultistepSchedule {
  double base_lr = 0.1;
  double decay = 0.1;
  std::vector<int64_t> milestone_epochs;  // e.g. {200, 250, 300}
  int64_t steps_per_epoch = 1;

  // The rate for the update that follows `updates_done` updates (so step 0 has base_lr and
  // the rate drops at update milestone * steps_per_epoch).
  double lr(int64_t updates_done) const;
};

int64_t steps_per_epoch(int64_t train_size, int64_t batch_size);

}  // namespace convlab::optim
