// Every op's input and parameter gradients against central finite differences in f64.
#include <gtest/gtest.h>

#include "framework/ops/ops.h"
#include "tests/support/gradient_check.h"

using namespace convlab;
using test_support::check_gradients;
using test_support::random_tensor;

namespace {

void expect_gradients(const std::function<Variable()>& f, const std::vector<Variable*>& wrt,
                      const test_support::GradCheckOptions& options = {}) {
  const test_support::GradCheckReport report = check_gradients(f, wrt, options);
  EXPECT_TRUE(report.ok) << report.message;
  EXPECT_GT(report.checked, 0);
}

Variable param(Shape shape, uint64_t seed, double lo = -1, double hi = 1) {
  return Variable(random_tensor(std::move(shape), seed, lo, hi), true);
}

struct ConvCase {
  int64_t kernel, stride;
  Padding padding;
  int64_t pad;
  bool bias;
  int64_t h, w;
};

std::string case_name(const ::testing::TestParamInfo<ConvCase>& info) {
  const ConvCase& c = info.param;
  const char* padding = c.padding == Padding::same ? "same" : c.padding == Padding::valid ? "valid" : "pad";
  return fmt::format("k{}_s{}_{}{}_{}_{}x{}", c.kernel, c.stride, padding, c.pad, c.bias ? "bias" : "nobias", c.h, c.w);
}

}  // namespace

class Conv2dGradient : public ::testing::TestWithParam<ConvCase> {};

TEST_P(Conv2dGradient, MatchesFiniteDifferences) {
  const ConvCase c = GetParam();
  Variable x = param({2, 3, c.h, c.w}, 1);
  Variable w = param({4, 3, c.kernel, c.kernel}, 2);
  Variable b = param({4}, 3);
  const ops::ConvSpec spec{c.stride, c.padding, c.pad};
  std::vector<Variable*> wrt{&x, &w};
  if (c.bias) wrt.push_back(&b);
  expect_gradients([&] { return ops::conv2d(x, w, c.bias ? &b : nullptr, spec); }, wrt);
}

INSTANTIATE_TEST_SUITE_P(Shapes, Conv2dGradient,
                         ::testing::Values(ConvCase{3, 1, Padding::same, 0, false, 6, 6},
                                           ConvCase{3, 2, Padding::same, 0, false, 6, 6},   // XLA: pad 0 before, 1 after
                                           ConvCase{3, 2, Padding::same, 0, true, 7, 5},
                                           ConvCase{3, 1, Padding::valid, 0, true, 5, 6},
                                           ConvCase{1, 1, Padding::valid, 0, false, 4, 4},  // pointwise path
                                           ConvCase{2, 2, Padding::explicit_, 1, true, 5, 5},
                                           ConvCase{5, 3, Padding::same, 0, false, 8, 7}),
                         case_name);

TEST(OpGradients, BatchNormTraining) {
  Variable x = param({3, 4, 3, 2}, 4, -2, 3);
  Variable gamma = param({4}, 5, 0.5, 1.5);
  Variable beta = param({4}, 6);
  Tensor running_mean = Tensor::zeros({4}, DType::f64, cpu());
  Tensor running_var = Tensor::full({4}, DType::f64, cpu(), 1.0);
  expect_gradients(
      [&] { return ops::batchnorm2d(x, gamma, beta, running_mean, running_var, /*training=*/true, 1e-5, 0.1); },
      {&x, &gamma, &beta});
}

TEST(OpGradients, BatchNormReluFusedTraining) {
  Variable x = param({3, 4, 3, 2}, 14, -2, 3);
  Variable gamma = param({4}, 15, 0.5, 1.5);
  Variable beta = param({4}, 16);
  Tensor running_mean = Tensor::zeros({4}, DType::f64, cpu());
  Tensor running_var = Tensor::full({4}, DType::f64, cpu(), 1.0);
  const auto report = check_gradients(
      [&] { return ops::batchnorm2d_relu(x, gamma, beta, running_mean, running_var, /*training=*/true, 1e-5, 0.1); },
      {&x, &gamma, &beta});
  EXPECT_TRUE(report.ok) << report.message;
  EXPECT_GT(report.checked, 20);
}

TEST(OpGradients, ConvertBetweenFormatsAndAConvolutionInChannelsLast) {
  // Input and weight converted to channels_last, convolved there (XLA's stride-2 SAME), the
  // result converted back: every conversion's backward and the NHWC convolution's.
  Variable x = param({2, 3, 6, 5}, 20);
  Variable w = param({4, 3, 3, 3}, 21);
  const ops::ConvSpec spec{2, Padding::same, 0};
  expect_gradients(
      [&] {
        const Variable xl = ops::convert(x, DType::f64, MemoryFormat::channels_last);
        const Variable wl = ops::convert(w, DType::f64, MemoryFormat::channels_last);
        return ops::convert(ops::conv2d(xl, wl, nullptr, spec), DType::f64, MemoryFormat::contiguous);
      },
      {&x, &w});
}

TEST(OpGradients, ReluSkipsOnlyKinks) {
  Variable x = param({2, 3, 4, 4}, 7);
  const auto report = check_gradients([&] { return ops::relu(x); }, {&x});
  EXPECT_TRUE(report.ok) << report.message;
  EXPECT_GT(report.checked, 20);
}

TEST(OpGradients, Dropout) {
  Variable x = param({2, 3, 4, 4}, 8);
  expect_gradients([&] { return ops::dropout(x, 0.3, RandomKey{11, 5, 3}); }, {&x});
}

TEST(OpGradients, GlobalAveragePool) {
  Variable x = param({2, 3, 3, 5}, 9);
  expect_gradients([&] { return ops::global_avg_pool(x); }, {&x});
}

TEST(OpGradients, SoftmaxCrossEntropy) {
  Variable logits = param({5, 4}, 10, -3, 3);
  const Tensor labels = Tensor::from_vector<int32_t>({5}, {0, 3, 1, 1, 2});
  expect_gradients([&] { return ops::softmax_cross_entropy(logits, labels); }, {&logits});
}

TEST(OpGradients, SumsAndArithmetic) {
  Variable a = param({3, 4}, 11);
  Variable b = param({3, 4}, 12);
  expect_gradients([&] { return ops::sum_squares(a); }, {&a});
  expect_gradients([&] { return ops::sum(a); }, {&a});
  expect_gradients([&] { return ops::add(a, ops::mul(a, b)); }, {&a, &b});
  expect_gradients([&] { return ops::scale(ops::reshape(a, Shape({2, 6})), -0.7); }, {&a});
  expect_gradients([&] { return ops::flatten(ops::reshape(a, Shape({3, 2, 2, 1}))); }, {&a});
}

TEST(OpGradients, SharedInputAccumulates) {
  // x feeds two branches: its gradient is the sum of both.
  Variable x = param({2, 2, 3, 3}, 13);
  Variable w = param({2, 2, 3, 3}, 14);
  expect_gradients([&] { return ops::add(ops::relu(x), ops::conv2d(x, w, nullptr, {})); }, {&x, &w});
}

TEST(Autograd, ParameterGradientsAccumulateAndGraphIsFreed) {
  Variable w(Tensor::from_vector<double>({2}, {1.0, -2.0}), true);
  for (int i = 0; i < 2; ++i) ops::sum_squares(w).backward();
  EXPECT_EQ(w.grad().to_vector<double>(), (std::vector<double>{4.0, -8.0}));  // 2 * (2 w)
  w.zero_grad();
  EXPECT_FALSE(w.grad().defined());

  Variable y = ops::relu(w);
  Variable loss = ops::sum(y);
  std::weak_ptr<Node> node = y.data()->grad_fn;
  loss.backward();
  EXPECT_TRUE(node.expired());  // the graph went with the backward
  EXPECT_THROW(loss.backward(), Error);
}

TEST(Autograd, NoGradRecordsNothing) {
  Variable w(Tensor::from_vector<double>({2}, {1.0, 2.0}), true);
  NoGradGuard guard;
  Variable y = ops::sum_squares(w);
  EXPECT_FALSE(y.requires_grad());
  EXPECT_TRUE(y.is_leaf());
}

TEST(Dropout, StepFromMemoryDrawsTheSameMask) {
  const Tensor x = test_support::random_tensor({3, 4, 5, 5}, 31);
  Variable in(x.clone());
  const Variable a = ops::dropout(in, 0.4, RandomKey{9, 3, 12});
  const Tensor step = Tensor::full({1}, DType::i32, cpu(), 12);
  RandomKey key{9, 3, 0};
  key.step_source = step.host<int32_t>();
  const Variable b = ops::dropout(in, 0.4, key);
  const Variable c = ops::dropout(in, 0.4, RandomKey{9, 3, 13});
  EXPECT_EQ(a.value().to_vector<double>(), b.value().to_vector<double>());
  EXPECT_NE(a.value().to_vector<double>(), c.value().to_vector<double>());
}
