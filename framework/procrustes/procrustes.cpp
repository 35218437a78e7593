#include "framework/procrustes/procrustes.h"

#include <cblas.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "framework/cka/cka.h"
#include "framework/cka/gram.h"
#include "framework/core/error.h"
#include "framework/linalg/symmetric_eigen.h"
#include "kernels/procrustes.h"

namespace convlab::procrustes {

const char* form_name(Form form) {
  switch (form) {
    case Form::features: return "features";
    case Form::gram: return "gram";
    default: return "automatic";
  }
}

Form form_for(int64_t examples, int64_t features) { return features <= examples ? Form::features : Form::gram; }

Factor factor(const cka::FeatureView& x, Form form) {
  const int64_t n = x.rows(), p = x.cols();
  if (form == Form::automatic) form = form_for(n, p);
  const cka::CentredFeatures c = cka::centre_columns(x);  // range-scaled; the norm below removes the scale
  Factor out;
  out.rows = n;
  out.form = form;
  if (form == Form::features) {
    out.cols = p;
    out.f.resize(static_cast<size_t>(n * p));
    if (c.f64.empty())
      std::copy(c.f32.begin(), c.f32.end(), out.f.begin());
    else
      std::copy(c.f64.begin(), c.f64.end(), out.f.begin());
    double sq = 0.0;
    for (double v : out.f) sq += v * v;
    out.constant = !(sq > 0.0);
    if (!out.constant) {
      const double inv = 1.0 / std::sqrt(sq);
      for (double& v : out.f) v *= inv;
    }
    return out;
  }
  // Gram form: K / tr(K) = U Lambda U^T, F = U sqrt(Lambda) (n, n).
  std::vector<double> k(static_cast<size_t>(n * n));
  cka::linear_gram(c, k.data());
  double trace = 0.0;
  for (int64_t i = 0; i < n; ++i) trace += k[i * n + i];
  out.cols = n;
  out.constant = !(trace > 0.0);
  if (out.constant) {
    out.f.assign(static_cast<size_t>(n * n), 0.0);
    return out;
  }
  for (double& v : k) v /= trace;
  const std::vector<double> lambda = linalg::symmetric_eigen(k, n);  // k now holds U
  const double lambda_max = lambda.back();
  std::vector<double> root(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) root[j] = std::sqrt(kernels::eigen_floor(lambda[j], lambda_max, n));
  out.f = std::move(k);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) out.f[i * n + j] *= root[j];
  return out;
}

double nuclear_norm(const Factor& x, const Factor& y) {
  CONVLAB_CHECK(x.rows == y.rows, "Procrustes compares the same examples: {} against {} rows", x.rows, y.rows);
  const int64_t n = x.rows, r1 = x.cols, r2 = y.cols;
  std::vector<double> c(static_cast<size_t>(r1 * r2));  // C = F_x^T F_y (r1, r2)
  cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r1, r2, n, 1.0, x.f.data(), r1, y.f.data(), r2, 0.0, c.data(),
              r2);
  // The smaller of C C^T (r1, r1) and C^T C (r2, r2): the same nonzero eigenvalues.
  const int64_t s = std::min(r1, r2);
  std::vector<double> gram(static_cast<size_t>(s * s));
  if (r1 <= r2)
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, r1, r2, 1.0, c.data(), r2, 0.0, gram.data(), r1);
  else
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, r2, r1, 1.0, c.data(), r2, 0.0, gram.data(), r2);
  const std::vector<double> lambda = linalg::symmetric_eigenvalues(gram, s);
  const double lambda_max = lambda.back();
  double nuclear = 0.0;
  for (double l : lambda) nuclear += std::sqrt(kernels::eigen_floor(l, lambda_max, s));
  return nuclear;
}

namespace {

// A numerical failure (LAPACK's) names the layer or pair it happened on.
Factor labelled_factor(const cka::FeatureView& x, const std::string& label, Form form = Form::automatic) {
  try {
    return factor(x, form);
  } catch (const Error& e) {
    const std::string what = e.what();
    if (what.find(x.label()) != std::string::npos) throw;  // it names the layer already (non-finite features)
    throw Error(fmt::format("{}: {}", label, what));
  }
}

double labelled_nuclear_norm(const Factor& x, const Factor& y, const std::string& label_x,
                             const std::string& label_y) {
  try {
    return nuclear_norm(x, y);
  } catch (const Error& e) {
    throw Error(fmt::format("{} against {}: {}", label_x, label_y, e.what()));
  }
}

void warn_constant(const std::string& label) {
  fmt::print(stderr,
             "warning: the Procrustes distance with {} is undefined (NaN): its features are constant over a batch\n",
             label);
}

}  // namespace

double procrustes_distance(const cka::FeatureView& x, const cka::FeatureView& y, Form form) {
  cka::check_same_examples(x, y);
  CONVLAB_CHECK(x.rows() >= kMinExamples, "the Procrustes distance needs at least {} examples, got {}", kMinExamples,
                x.rows());
  const Factor fx = labelled_factor(x, x.label(), form), fy = labelled_factor(y, y.label(), form);
  if (fx.constant || fy.constant) {
    warn_constant(fx.constant ? x.label() : y.label());
    return NAN;
  }
  return kernels::procrustes_from_nuclear(labelled_nuclear_norm(fx, fy, x.label(), y.label()));
}

ProcrustesAccumulator::ProcrustesAccumulator(int64_t layers_a, int64_t layers_b)
    : pairs_(cka::LayerPairs::of(layers_a, layers_b)),
      terms_(pairs_.layers_a() * pairs_.layers_b()),
      forms_(static_cast<size_t>(pairs_.rows()), Form::automatic),
      warned_(static_cast<size_t>(pairs_.rows()), false) {}

void ProcrustesAccumulator::add_batch(const std::vector<cka::FeatureView>& a) { accumulate(pairs_.batch_rows(a, "Procrustes")); }

void ProcrustesAccumulator::add_batch(const std::vector<cka::FeatureView>& a, const std::vector<cka::FeatureView>& b) {
  accumulate(pairs_.batch_rows(a, b, "Procrustes"));
}

void ProcrustesAccumulator::accumulate(const std::vector<const cka::FeatureView*>& layers) {
  const int64_t r = pairs_.rows(), k = layers[0]->rows();
  for (const cka::FeatureView* v : layers)
    CONVLAB_CHECK(v->rows() == k, "every layer of a batch holds the same examples: {} has {} rows, {} has {}",
                  layers[0]->label(), k, v->label(), v->rows());
  CONVLAB_CHECK(k >= kMinExamples && k <= kMaxExamples,
                "the Procrustes distance takes {} to {} examples per batch, got {}", kMinExamples, kMaxExamples, k);
  std::vector<Factor> factors;
  for (int64_t i = 0; i < r; ++i) {
    pairs_.set_name(i, layers[static_cast<size_t>(i)]->name());
    factors.push_back(labelled_factor(*layers[static_cast<size_t>(i)], pairs_.label(i)));
    if (terms_.batches() == 0) forms_[static_cast<size_t>(i)] = factors.back().form;
    if (factors.back().constant && !warned_[static_cast<size_t>(i)]) {
      warned_[static_cast<size_t>(i)] = true;
      warn_constant(pairs_.label(i));
    }
  }
  const int64_t la = pairs_.layers_a(), lb = pairs_.layers_b();
  std::vector<double> distance(static_cast<size_t>(la * lb), NAN);  // (L, M)
  for (int64_t i = 0; i < la; ++i)
    for (int64_t j = pairs_.self() ? i : 0; j < lb; ++j) {
      const Factor& fx = factors[static_cast<size_t>(i)];
      const Factor& fy = factors[static_cast<size_t>(pairs_.row_of_b(j))];
      double d = NAN;
      if (!fx.constant && !fy.constant) {
        // A factor against itself: F^T F is PSD, so its nuclear norm is its trace, ||F||_F^2.
        double nuclear = 0.0;
        if (pairs_.self() && i == j)
          for (double v : fx.f) nuclear += v * v;
        else
          nuclear = labelled_nuclear_norm(fx, fy, pairs_.label(i), pairs_.label(pairs_.row_of_b(j)));
        d = kernels::procrustes_from_nuclear(nuclear);
      }
      distance[i * lb + j] = d;
      if (pairs_.self()) distance[j * lb + i] = d;
    }
  terms_.add(distance, static_cast<double>(k));
  examples_ += k;
}

}  // namespace convlab::procrustes
