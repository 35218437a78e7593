#include "framework/cka/warning.h"

#include <fmt/format.h>

#include <cstdio>

namespace convlab::cka {

void warn_undefined_cka(const std::string& label_x, bool x_constant, const std::string& label_y, bool y_constant) {
  std::string culprit;
  if (x_constant) culprit = label_x;
  if (y_constant) culprit += (culprit.empty() ? "" : " and ") + label_y;
  fmt::print(stderr,
             "warning: CKA of {} and {} is undefined (NaN): {} has zero self-HSIC (its features are constant "
             "over these examples)\n",
             label_x, label_y, culprit);
}

void warn_constant_layer(const std::string& label) {
  fmt::print(stderr,
             "warning: CKA with {} is undefined (NaN): it has zero self-HSIC (its features are constant over the "
             "examples seen)\n",
             label);
}

}  // namespace convlab::cka
