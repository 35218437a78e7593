// The finite-difference gradient checker shared by every op and model test.
//
// For a function f of some Variables, it compares the autograd gradient of
// L = sum(R * f(...)), R fixed random weights, with central differences
// (L(x + h) - L(x - h)) / 2h, element by element, in whatever precision the Variables hold
// (use f64 on the CPU). Elements where the one-sided differences disagree -- a ReLU kink
// inside the step -- are skipped and counted.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "framework/autograd/variable.h"

namespace convlab::test_support {

struct GradCheckOptions {
  double step = 1e-6;
  double rtol = 1e-5;         // |analytic - numeric| <= atol + rtol * max(|analytic|, |numeric|)
  double atol = 1e-8;
  int max_elements = 60;      // per Variable; larger ones are sampled evenly
  double kink_tolerance = 1e-3;  // relative disagreement of the one-sided slopes that marks a kink
  uint64_t seed = 1234;
};

struct GradCheckReport {
  bool ok = true;
  int checked = 0;
  int skipped_kinks = 0;
  double worst_error = 0;  // the largest |analytic - numeric| / (atol + rtol * scale)
  std::string message;     // the failures, one line each
};

GradCheckReport check_gradients(const std::function<Variable()>& f, const std::vector<Variable*>& wrt,
                                const GradCheckOptions& options = {});

// A CPU f64 tensor of the given shape with entries uniform in [lo, hi), from `seed`.
Tensor random_tensor(Shape shape, uint64_t seed, double lo = -1.0, double hi = 1.0, DType dtype = DType::f64);

}  // namespace convlab::test_support
