// One check every similarity measure must pass: features of any scale give the same value.
#pragma once

#include <cstdint>
#include <functional>

#include "framework/cka/features.h"
#include "tests/support/dense_matrix.h"

namespace convlab::test_support {

using PairMeasure = std::function<double(const cka::FeatureView&, const cka::FeatureView&)>;

// measure(x, y) for x (n, p) and y (n, q) scaled together by 1e-30 and by 1e30 equals the
// unscaled value: within tol64 in float64, within 1e-5 in float32, and without a warning.
void expect_scale_free(const PairMeasure& measure, const Matrix& x, const Matrix& y, int64_t n, int64_t p, int64_t q,
                       double tol64);

}  // namespace convlab::test_support
