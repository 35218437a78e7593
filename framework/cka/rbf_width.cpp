#include "framework/cka/rbf_width.h"

#include <fmt/format.h>

namespace convlab::cka {

std::string rbf_misfit_message(const std::string& label, double frac, RbfFit fit) {
  const bool wide = fit == RbfFit::all_ones;
  return fmt::format(
      "the RBF kernel of {} is {} (to within rounding) for every pair of distinct examples in a batch: its "
      "width, --rbf-frac {:g} times the median distance, is too {} for these features, so it tells no example from "
      "another and CKA with it is meaningless; {} --rbf-frac (1, the median distance, suits most features)",
      label, wide ? "1" : "0", frac, wide ? "wide" : "narrow", wide ? "lower" : "raise");
}

}  // namespace convlab::cka
