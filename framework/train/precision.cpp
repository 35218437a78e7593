#include "framework/train/precision.h"

namespace convlab {

PrecisionPlan precision_plan(Precision precision, ActivationLayout layout, Device device) {
  PrecisionPlan plan;
  plan.batch.dtype = precision == Precision::bf16 ? DType::bf16 : DType::f32;
  const bool nhwc = layout == ActivationLayout::nhwc ||
                    (layout == ActivationLayout::auto_ && precision == Precision::bf16 && device.is_cuda());
  plan.batch.format = nhwc ? MemoryFormat::channels_last : MemoryFormat::contiguous;
  plan.allow_tf32 = precision != Precision::fp32 && device.is_cuda();  // the CPU has no TF32
  return plan;
}

std::string describe(const PrecisionPlan& plan) {
  return fmt::format("{} activations{}, {}", dtype_name(plan.batch.dtype),
                     plan.batch.format == MemoryFormat::channels_last ? " channels_last (NHWC)" : " (NCHW)",
                     plan.batch.dtype == DType::bf16 ? "fp32 master weights"
                     : plan.allow_tf32              ? "TF32 convolutions"
                                                    : "fp32 convolutions");
}

}  // namespace convlab
