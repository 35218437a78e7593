#include "tests/support/scale_check.h"

#include <gtest/gtest.h>

namespace convlab::test_support {

void expect_scale_free(const PairMeasure& measure, const Matrix& x, const Matrix& y, int64_t n, int64_t p, int64_t q,
                       double tol64) {
  const double base = measure(cka::FeatureView(x, n, p), cka::FeatureView(y, n, q));
  for (const double s : {1e-30, 1e30}) {
    Matrix xs(x), ys(y);
    for (double& v : xs) v *= s;
    for (double& v : ys) v *= s;
    const std::vector<float> xf(xs.begin(), xs.end()), yf(ys.begin(), ys.end());
    testing::internal::CaptureStderr();
    EXPECT_NEAR(measure(cka::FeatureView(xs, n, p), cka::FeatureView(ys, n, q)), base, tol64) << "scale " << s;
    EXPECT_NEAR(measure(cka::FeatureView(xf, n, p), cka::FeatureView(yf, n, q)), base, 1e-5) << "scale " << s;
    EXPECT_EQ(testing::internal::GetCapturedStderr(), "") << "scale " << s;
  }
}

}  // namespace convlab::test_support
