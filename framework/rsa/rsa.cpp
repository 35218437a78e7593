#include "framework/rsa/rsa.h"

#include <cblas.h>
#include <fmt/format.h>

#include <cstdio>

#include "framework/cka/cka.h"
#include "framework/core/error.h"
#include "kernels/rsa.h"

namespace convlab::rsa {

double rsa(const cka::FeatureView& x, const cka::FeatureView& y) {
  cka::check_same_examples(x, y);
  RsaAccumulator acc(1, 1);
  acc.add_batch({x}, {y});
  return acc.result()[0];
}

RsaAccumulator::RsaAccumulator(int64_t layers_a, int64_t layers_b)
    : pairs_(cka::LayerPairs::of(layers_a, layers_b)),
      terms_(pairs_.layers_a() * pairs_.layers_b()),
      warned_examples_(static_cast<size_t>(pairs_.rows()), false),
      warned_constant_(static_cast<size_t>(pairs_.rows()), false) {}

void RsaAccumulator::add_batch(const std::vector<cka::FeatureView>& a) { accumulate(pairs_.batch_rows(a, "RSA")); }

void RsaAccumulator::add_batch(const std::vector<cka::FeatureView>& a, const std::vector<cka::FeatureView>& b) {
  accumulate(pairs_.batch_rows(a, b, "RSA"));
}

void RsaAccumulator::accumulate(const std::vector<const cka::FeatureView*>& layers) {
  const int64_t r = pairs_.rows(), k = layers[0]->rows();
  for (const cka::FeatureView* v : layers)
    CONVLAB_CHECK(v->rows() == k, "every layer of a batch holds the same examples: {} has {} rows, {} has {}",
                  layers[0]->label(), k, v->label(), v->rows());
  CONVLAB_CHECK(k >= kMinExamples, "RSA needs at least {} examples per batch, got {}", kMinExamples, k);
  const int64_t m = kernels::upper_pair_count(k);
  ranks_.resize(static_cast<size_t>(r * m));
  for (int64_t i = 0; i < r; ++i) {
    const cka::FeatureView& v = *layers[static_cast<size_t>(i)];
    pairs_.set_name(i, v.name());
    const int64_t constant = rdm_ranks(v, ranks_.data() + i * m, workspace_);
    if (constant > 0 && !warned_examples_[static_cast<size_t>(i)]) {
      warned_examples_[static_cast<size_t>(i)] = true;
      fmt::print(stderr,
                 "warning: RSA: {} has {} of {} examples with constant features in a batch; their correlation with "
                 "other examples is undefined and counts as 0 (distance 1)\n",
                 pairs_.label(i), constant, k);
    }
  }
  std::vector<double> products(static_cast<size_t>(r * r));  // Z Z^T (R, R)
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r, r, m, 1.0, ranks_.data(), m, ranks_.data(), m, 0.0,
              products.data(), r);
  const int64_t la = pairs_.layers_a(), lb = pairs_.layers_b();
  for (int64_t i = 0; i < r; ++i)
    if (!(products[i * r + i] > 0.0) && !warned_constant_[static_cast<size_t>(i)]) {
      warned_constant_[static_cast<size_t>(i)] = true;
      fmt::print(stderr, "warning: RSA with {} is undefined (NaN): its RDM is constant over a batch\n",
                 pairs_.label(i));
    }
  std::vector<double> spearman(static_cast<size_t>(la * lb));  // (L, M)
  for (int64_t i = 0; i < la; ++i)
    for (int64_t j = 0; j < lb; ++j) {
      const int64_t rb = pairs_.row_of_b(j);
      spearman[i * lb + j] =
          kernels::correlation_from_products(products[i * r + rb], products[i * r + i], products[rb * r + rb]);
    }
  terms_.add(spearman, static_cast<double>(k));
  examples_ += k;
}

void RsaAccumulator::release_workspace() {
  std::vector<double>().swap(ranks_);
  workspace_ = RankWorkspace();
}

}  // namespace convlab::rsa
