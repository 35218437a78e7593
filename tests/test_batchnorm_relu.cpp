// The fused BatchNorm + ReLU (ops::batchnorm2d_relu and the backend's `relu` flag) computes
// exactly what BatchNorm followed by a separate ReLU computes, forward and backward, in f32
// and f64: the same per-element functions in the same order, so the bits agree.
#include <gtest/gtest.h>

#include <cstring>

#include "framework/backend/backend.h"
#include "framework/ops/ops.h"
#include "tests/support/gradient_check.h"

using namespace convlab;

namespace {

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

void check_fused_against_separate(DType dtype) {
  const Shape shape{6, 5, 7, 3};
  const Tensor x = test_support::random_tensor(shape, 1, -2, 3, dtype);
  const Tensor gamma = test_support::random_tensor({5}, 2, 0.5, 1.5, dtype);
  const Tensor beta = test_support::random_tensor({5}, 3, -0.5, 0.5, dtype);
  const Tensor grad_y = test_support::random_tensor(shape, 4, -1, 1, dtype);
  const Backend& be = cpu_backend();
  auto empty = [&](Shape s) { return Tensor::empty(std::move(s), dtype, cpu()); };

  // Training forward.
  Tensor rm1 = Tensor::zeros({5}, dtype, cpu()), rv1 = Tensor::full({5}, dtype, cpu(), 1.0);
  Tensor rm2 = rm1.clone(), rv2 = rv1.clone();
  Tensor z = empty(shape), separate = empty(shape), fused = empty(shape);
  Tensor mean1 = empty({5}), inv1 = empty({5}), mean2 = empty({5}), inv2 = empty({5});
  be.batchnorm_forward_train(x, gamma, beta, 1e-5, 0.1, false, z, mean1, inv1, rm1, rv1);
  be.relu_forward(z, separate);
  be.batchnorm_forward_train(x, gamma, beta, 1e-5, 0.1, true, fused, mean2, inv2, rm2, rv2);
  EXPECT_TRUE(same_bits(separate, fused));
  EXPECT_TRUE(same_bits(mean1, mean2) && same_bits(inv1, inv2) && same_bits(rm1, rm2) && same_bits(rv1, rv2));

  // Backward: ReLU's backward, then BatchNorm's, against the fused one that reads y.
  Tensor grad_z = empty(shape), gx1 = empty(shape), gx2 = empty(shape);
  Tensor gg1 = empty({5}), gb1 = empty({5}), gg2 = empty({5}), gb2 = empty({5});
  be.relu_backward(separate, grad_y, grad_z);
  be.batchnorm_backward(x, nullptr, gamma, mean1, inv1, grad_z, gx1, gg1, gb1);
  be.batchnorm_backward(x, &fused, gamma, mean2, inv2, grad_y, gx2, gg2, gb2);
  EXPECT_TRUE(same_bits(gx1, gx2));
  EXPECT_TRUE(same_bits(gg1, gg2));
  EXPECT_TRUE(same_bits(gb1, gb2));

  // Evaluation.
  Tensor ez = empty(shape), eseparate = empty(shape), efused = empty(shape);
  be.batchnorm_forward_eval(x, gamma, beta, rm1, rv1, 1e-5, false, ez);
  be.relu_forward(ez, eseparate);
  be.batchnorm_forward_eval(x, gamma, beta, rm1, rv1, 1e-5, true, efused);
  EXPECT_TRUE(same_bits(eseparate, efused));
}

}  // namespace

TEST(BatchNormRelu, FusedEqualsSeparateBitwiseF32) { check_fused_against_separate(DType::f32); }

TEST(BatchNormRelu, FusedEqualsSeparateBitwiseF64) { check_fused_against_separate(DType::f64); }

TEST(BatchNormRelu, TheOpRecordsOneNodeAndTheSameGradients) {
  const Shape shape{4, 3, 5, 5};
  Variable x1(test_support::random_tensor(shape, 7, -2, 2, DType::f32), true);
  Variable x2(x1.value().clone(), true);
  Variable g1(test_support::random_tensor({3}, 8, 0.5, 1.5, DType::f32), true), b1(Tensor::zeros({3}, DType::f32, cpu()), true);
  Variable g2(g1.value().clone(), true), b2(b1.value().clone(), true);
  Tensor rm1 = Tensor::zeros({3}, DType::f32, cpu()), rv1 = Tensor::full({3}, DType::f32, cpu(), 1.0);
  Tensor rm2 = rm1.clone(), rv2 = rv1.clone();
  Variable separate = ops::relu(ops::batchnorm2d(x1, g1, b1, rm1, rv1, true, 1e-5, 0.1));
  Variable fused = ops::batchnorm2d_relu(x2, g2, b2, rm2, rv2, true, 1e-5, 0.1);
  EXPECT_STREQ(fused.data()->grad_fn->name(), "batchnorm2d_relu");
  EXPECT_TRUE(same_bits(separate.value(), fused.value()));
  ops::sum(ops::mul(separate, separate)).backward();
  ops::sum(ops::mul(fused, fused)).backward();
  EXPECT_TRUE(same_bits(x1.grad(), x2.grad()));
  EXPECT_TRUE(same_bits(g1.grad(), g2.grad()));
  EXPECT_TRUE(same_bits(b1.grad(), b2.grad()));
}

TEST(FoldBatchNorm, NoOutputChannelsIsAnErrorNotADivisionByZero) {
  // (0, 3, 3, 3): the per-channel count would divide by zero; the CUDA twin checks the same.
  const Tensor none = Tensor::empty({0, 3, 3, 3}, DType::f32, cpu()), no_channels = Tensor::empty({0}, DType::f32, cpu());
  Tensor out = Tensor::empty({0, 3, 3, 3}, DType::f32, cpu()), bias_out = Tensor::empty({0}, DType::f32, cpu());
  EXPECT_THROW(cpu_backend().fold_batchnorm(none, nullptr, no_channels, no_channels, no_channels, no_channels, 1e-5,
                                            out, bias_out),
               Error);
}
