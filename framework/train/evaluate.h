// Evaluation: mean loss and accuracy of a model over a data set, in eval mode and without
// recording a graph, with every BatchNorm folded into its convolution for the duration
// (nn::Model::fold_batchnorm).
#pragma once

#include "framework/nn/model.h"
#include "framework/train/device_dataset.h"
#include "framework/train/precision.h"
#include "kernels/augment.h"

namespace convlab {

struct EvalResult {
  double loss = 0;      // mean softmax cross-entropy
  double accuracy = 0;  // fraction in [0, 1]
  int64_t examples = 0;
};

// Leaves the model in eval mode; callers switch back with train().
EvalResult evaluate(nn::Model& model, const DeviceImageSet& data, int64_t batch_size,
                    const kernels::AugmentConfig& config, const BatchStorage& storage = {});

}  // namespace convlab
