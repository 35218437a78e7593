#include "framework/optim/schedule.h"

#include "framework/core/error.h"

namespace convlab::optim {

double MultistepSchedule::lr(int64_t updates_done) const {
  double rate = base_lr;
  for (int64_t epoch : milestone_epochs)
    if (updates_done >= epoch * steps_per_epoch) rate *= decay;
  return rate;
}

int64_t steps_per_epoch(int64_t train_size, int64_t batch_size) {
  CONVLAB_CHECK(train_size > 0 && batch_size > 0, "train size {} and batch size {} must be positive", train_size,
                batch_size);
  return (train_size + batch_size - 1) / batch_size;
}

}  // namespace convlab::optim
