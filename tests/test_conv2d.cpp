// Convolution forward values against a direct loop, and XLA's SAME padding.
#include <gtest/gtest.h>

#include "framework/ops/ops.h"
#include "tests/support/gradient_check.h"

using namespace convlab;

TEST(ConvGeometry, SameFollowsXla) {
  const ConvGeometry s2 = ConvGeometry::make(1, 3, 32, 32, 8, 3, 3, 2, Padding::same);
  EXPECT_EQ(s2.out_h, 16);
  EXPECT_EQ(s2.pad_top, 0);  // total padding 1 goes after
  EXPECT_EQ(s2.pad_bottom, 1);
  const ConvGeometry s1 = ConvGeometry::make(1, 3, 32, 32, 8, 3, 3, 1, Padding::same);
  EXPECT_EQ(s1.out_h, 32);
  EXPECT_EQ(s1.pad_top, 1);
  EXPECT_EQ(s1.pad_bottom, 1);
  const ConvGeometry odd = ConvGeometry::make(1, 3, 7, 7, 8, 3, 3, 2, Padding::same);
  EXPECT_EQ(odd.out_h, 4);
  EXPECT_EQ(odd.pad_top, 1);
  EXPECT_EQ(odd.pad_bottom, 1);
  const ConvGeometry valid = ConvGeometry::make(1, 3, 8, 8, 8, 3, 3, 1, Padding::valid);
  EXPECT_EQ(valid.out_h, 6);
  EXPECT_THROW(ConvGeometry::make(1, 3, 2, 2, 8, 3, 3, 1, Padding::valid), Error);
}

TEST(Conv2d, ForwardMatchesDirectLoop) {
  for (const auto& [kernel, stride, padding] : {std::tuple{3, 2, Padding::same}, std::tuple{3, 1, Padding::valid},
                                                 std::tuple{1, 1, Padding::valid}, std::tuple{3, 1, Padding::same}}) {
    const int64_t n = 2, c = 3, h = 8, w = 8, k = 5;
    const Tensor x = test_support::random_tensor({n, c, h, w}, 1);
    const Tensor wt = test_support::random_tensor({k, c, kernel, kernel}, 2);
    const Tensor b = test_support::random_tensor({k}, 3);
    Variable bias(b.clone());
    const Variable y = ops::conv2d(Variable(x.clone()), Variable(wt.clone()), &bias, {stride, padding, 0});
    const ConvGeometry g = ConvGeometry::make(n, c, h, w, k, kernel, kernel, stride, padding);
    ASSERT_EQ(y.shape(), Shape({n, k, g.out_h, g.out_w}));
    const double* px = x.host<double>();
    const double* pw = wt.host<double>();
    for (int64_t in = 0; in < n; ++in)
      for (int64_t ik = 0; ik < k; ++ik)
        for (int64_t oy = 0; oy < g.out_h; ++oy)
          for (int64_t ox = 0; ox < g.out_w; ++ox) {
            double expected = b.host<double>()[ik];
            for (int64_t ic = 0; ic < c; ++ic)
              for (int64_t r = 0; r < kernel; ++r)
                for (int64_t s = 0; s < kernel; ++s) {
                  const int64_t iy = oy * stride - g.pad_top + r, ix = ox * stride - g.pad_left + s;
                  if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                  expected += px[((in * c + ic) * h + iy) * w + ix] * pw[((ik * c + ic) * kernel + r) * kernel + s];
                }
            EXPECT_NEAR(y.value().host<double>()[((in * k + ik) * g.out_h + oy) * g.out_w + ox], expected, 1e-12);
          }
  }
}
