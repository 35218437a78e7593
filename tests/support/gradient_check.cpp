#include "tests/support/gradient_check.h"

#include <cmath>

#include "framework/ops/ops.h"
#include "kernels/philox.h"

namespace convlab::test_support {

Tensor random_tensor(Shape shape, uint64_t seed, double lo, double hi, DType dtype) {
  Tensor t = Tensor::empty(std::move(shape), DType::f64, cpu());
  const RandomKey key{seed, 0x7e57, 0};
  for (int64_t i = 0; i < t.numel(); ++i) t.host<double>()[i] = lo + (hi - lo) * kernels::random_uniform(key, i);
  return dtype == DType::f64 ? std::move(t) : t.to(dtype);
}

namespace {

double weighted_sum(const Tensor& out, const Tensor& weights) {
  const Tensor o = out.to(DType::f64), w = weights.to(DType::f64);
  double total = 0;
  for (int64_t i = 0; i < o.numel(); ++i) total += o.host<double>()[i] * w.host<double>()[i];
  return total;
}

double get(const Tensor& t, int64_t i) {
  return t.dtype() == DType::f64 ? t.host<double>()[i] : t.host<float>()[i];
}
void set(Tensor& t, int64_t i, double v) {
  if (t.dtype() == DType::f64)
    t.host<double>()[i] = v;
  else
    t.host<float>()[i] = static_cast<float>(v);
}

}  // namespace

GradCheckReport check_gradients(const std::function<Variable()>& f, const std::vector<Variable*>& wrt,
                                const GradCheckOptions& options) {
  GradCheckReport report;
  // Analytic gradients of L = sum(R * f).
  for (Variable* v : wrt) v->zero_grad();
  Variable out = f();
  const Tensor weights = random_tensor(out.shape(), options.seed, -1.0, 1.0, out.dtype());
  const double base = weighted_sum(out.value(), weights);
  Variable loss = ops::sum(ops::mul(out, Variable(weights.clone())));
  loss.backward();

  auto loss_at = [&] {
    NoGradGuard no_grad;
    return weighted_sum(f().value(), weights);
  };
  for (size_t k = 0; k < wrt.size(); ++k) {
    Variable& v = *wrt[k];
    CONVLAB_CHECK(v.grad().defined(), "variable {} got no gradient", k);
    const Tensor analytic = v.grad().to(DType::f64);
    const int64_t n = v.value().numel();
    const int64_t stride = std::max<int64_t>(1, n / options.max_elements);
    for (int64_t i = 0; i < n; i += stride) {
      const double original = get(v.value(), i);
      set(v.mutable_value(), i, original + options.step);
      const double plus = loss_at();
      set(v.mutable_value(), i, original - options.step);
      const double minus = loss_at();
      set(v.mutable_value(), i, original);
      const double forward_slope = (plus - base) / options.step;
      const double backward_slope = (base - minus) / options.step;
      const double numeric = (plus - minus) / (2 * options.step);
      if (std::abs(forward_slope - backward_slope) >
          options.kink_tolerance * std::max(1.0, std::abs(numeric))) {
        ++report.skipped_kinks;
        continue;
      }
      const double exact = analytic.host<double>()[i];
      const double scale = std::max(std::abs(exact), std::abs(numeric));
      const double error = std::abs(exact - numeric) / (options.atol + options.rtol * scale);
      report.worst_error = std::max(report.worst_error, error);
      ++report.checked;
      if (error > 1.0) {
        report.ok = false;
        report.message += fmt::format("variable {} element {}: autograd {:.10g}, finite difference {:.10g}\n", k, i,
                                      exact, numeric);
      }
    }
  }
  if (report.checked == 0) {
    report.ok = false;
    report.message += "no element was checked\n";
  }
  return report;
}

}  // namespace convlab::test_support
