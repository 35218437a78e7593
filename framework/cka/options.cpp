#include "framework/cka/options.h"

#include <fmt/format.h>

namespace convlab::cka {

std::string Kernel::str() const {
  return kind == KernelKind::linear ? std::string("linear") : fmt::format("rbf(frac={})", rbf_frac);
}

const char* precision_name(GramPrecision precision) { return precision == GramPrecision::tf32 ? "tf32" : "fp32"; }

const char* estimator_name(Estimator estimator) {
  return estimator == Estimator::debiased ? "debiased" : "biased";
}

}  // namespace convlab::cka
