// What train_config.precision and memory_format mean on a device: the storage batches are
// assembled in (the model then runs in it: every layer follows its input's dtype and format)
// and whether fp32 convolutions and GEMMs may use TF32 tensor cores.
#pragma once

#include "framework/core/tensor.h"
#include "framework/io/config.h"

namespace convlab {

struct BatchStorage {
  DType dtype = DType::f32;
  MemoryFormat format = MemoryFormat::contiguous;
};

struct PrecisionPlan {
  BatchStorage batch;
  bool allow_tf32 = true;
};

PrecisionPlan precision_plan(Precision precision, ActivationLayout layout, Device device);

// "bf16, channels_last", for the run's first lines.
std::string describe(const PrecisionPlan& plan);

}  // namespace convlab
