#include "framework/analysis/permutation_null.h"

#include <cmath>

#include "framework/cka/centring.h"
#include "framework/cka/gram.h"
#include "framework/cka/hsic.h"
#include "framework/core/error.h"
#include "framework/procrustes/procrustes.h"
#include "framework/rsa/rdm.h"
#include "framework/stats/permutation_test.h"
#include "kernels/procrustes.h"
#include "kernels/rsa.h"

namespace convlab::analysis_detail {

HostNull::HostNull(Measure measure, const LayerNames& names, const CompareSettings& settings,
                   std::shared_ptr<linalg::BatchGrams> grams, std::shared_ptr<linalg::BatchGrams> grams_b)
    : measure_(measure),
      names_(names),
      settings_(settings),
      grams_(grams ? std::move(grams) : std::make_shared<linalg::BatchGrams>()),
      grams_b_(std::move(grams_b)) {
  la_ = static_cast<int64_t>(names.a.size());
  lb_ = names.self ? la_ : static_cast<int64_t>(names.b.size());
  rows_ = names.self ? la_ : la_ + lb_;
  const size_t outputs = measure == Measure::cka ? settings.kernels.size() : 1;
  const int64_t size = la_ * lb_ + (measure == Measure::cka ? rows_ : 0);
  terms_.assign(outputs, std::vector<stats::BatchTerms>(static_cast<size_t>(settings.permutations),
                                                        stats::BatchTerms(size)));
}

void HostNull::add_batch(const std::vector<cka::FeatureView>& a, const std::vector<cka::FeatureView>& b) {
  std::vector<const cka::FeatureView*> rows;
  for (const cka::FeatureView& v : a) rows.push_back(&v);
  for (const cka::FeatureView& v : b) rows.push_back(&v);
  CONVLAB_CHECK(static_cast<int64_t>(rows.size()) == rows_, "the permutation test expected {} layers, got {}", rows_,
                rows.size());
  const int64_t k = rows.front()->rows();
  grams_->start(batches_);
  if (grams_b_) grams_b_->start(batches_);
  if (measure_ == Measure::cka) {
    linalg::HostLayers layers(rows, names_.self ? rows.size() : static_cast<size_t>(la_), *grams_,
                                    grams_b_.get());
    add_cka(layers.rows(), k);
  } else if (measure_ == Measure::rsa) {
    add_rsa(rows, k);
  } else {
    add_procrustes(rows, k);
  }
  ++batches_;
}

void HostNull::add_layers(const std::vector<linalg::LayerGrams*>& rows) {
  CONVLAB_CHECK(measure_ == Measure::cka, "only CKA's permutation null is computed from Grams alone");
  CONVLAB_CHECK(static_cast<int64_t>(rows.size()) == rows_, "the permutation test expected {} layers, got {}", rows_,
                rows.size());
  add_cka(rows, rows.front()->rows());
  ++batches_;
}

namespace {

// The row of the pairs that holds B's layer j.
int64_t b_row(const LayerNames& names, int64_t j) { return names.self ? j : static_cast<int64_t>(names.a.size()) + j; }

// (k, k) m with rows and columns reordered: out_il = m_{perm i, perm l}.
void gather(const std::vector<double>& m, const std::vector<int32_t>& perm, std::vector<double>& out) {
  const int64_t k = static_cast<int64_t>(perm.size());
  out.resize(m.size());
#pragma omp parallel for schedule(static) if (k * k >= (int64_t{1} << 18))
  for (int64_t i = 0; i < k; ++i) {
    const double* from = m.data() + static_cast<int64_t>(perm[static_cast<size_t>(i)]) * k;
    double* to = out.data() + i * k;
    for (int64_t l = 0; l < k; ++l) to[l] = from[perm[static_cast<size_t>(l)]];
  }
}

}  // namespace

void HostNull::add_cka(const std::vector<linalg::LayerGrams*>& rows, int64_t k) {
  const double c = settings_.estimator == cka::Estimator::debiased
                       ? 1.0 / (static_cast<double>(k) * static_cast<double>(k - 3))
                       : 1.0 / (static_cast<double>(k - 1) * static_cast<double>(k - 1));
  for (size_t o = 0; o < settings_.kernels.size(); ++o) {
    const cka::Kernel& kernel = settings_.kernels[o];
    // Each row's centred Gram under this kernel, in the features' own scale (HSIC terms of
    // different batches are averaged: a per-batch scale would weigh them wrongly).
    std::vector<std::vector<double>> centred(static_cast<size_t>(rows_));
    std::vector<double> self(static_cast<size_t>(rows_));
    for (int64_t r = 0; r < rows_; ++r) {
      linalg::LayerGrams& x = *rows[static_cast<size_t>(r)];
      int e = 0;
      std::vector<double> g = x.gram(linalg::Centring::columns, &e);
      if (kernel.kind == cka::KernelKind::linear) {
        for (double& v : g) v = std::ldexp(v, 2 * e);
      } else {
        cka::rbf_from_linear_gram(g.data(), k, kernel.rbf_frac, x.label());
      }
      cka::centre_for(settings_.estimator, g.data(), k);
      self[static_cast<size_t>(r)] = c * cka::dot(g.data(), g.data(), k * k);
      centred[static_cast<size_t>(r)] = std::move(g);
    }
    std::vector<double> terms(static_cast<size_t>(la_ * lb_ + rows_));
    std::copy(self.begin(), self.end(), terms.begin() + la_ * lb_);
    std::vector<double> permuted;
    for (size_t p = 0; p < terms_[o].size(); ++p) {
      const std::vector<int32_t> perm =
          stats::batch_permutation(settings_.seed, batches_, static_cast<int64_t>(p), k);
      for (int64_t j = 0; j < lb_; ++j) {
        gather(centred[static_cast<size_t>(b_row(names_, j))], perm, permuted);
        for (int64_t i = 0; i < la_; ++i)
          terms[static_cast<size_t>(i * lb_ + j)] = c * cka::dot(centred[static_cast<size_t>(i)].data(),
                                                                 permuted.data(), k * k);
      }
      terms_[o][p].add(terms, static_cast<double>(k));
    }
  }
}

void HostNull::add_rsa(const std::vector<const cka::FeatureView*>& rows, int64_t k) {
  const int64_t m = kernels::upper_pair_count(k);
  std::vector<std::vector<double>> ranks(static_cast<size_t>(rows_));
  std::vector<double> norm(static_cast<size_t>(rows_));
  rsa::RankWorkspace workspace;
  for (int64_t r = 0; r < rows_; ++r) {
    ranks[static_cast<size_t>(r)].resize(static_cast<size_t>(m));
    rsa::rdm_ranks(*rows[static_cast<size_t>(r)], ranks[static_cast<size_t>(r)].data(), workspace);
    norm[static_cast<size_t>(r)] = cka::dot(ranks[static_cast<size_t>(r)].data(), ranks[static_cast<size_t>(r)].data(), m);
  }
  std::vector<double> terms(static_cast<size_t>(la_ * lb_)), permuted(static_cast<size_t>(m));
  for (size_t p = 0; p < terms_[0].size(); ++p) {
    const std::vector<int32_t> perm = stats::batch_permutation(settings_.seed, batches_, static_cast<int64_t>(p), k);
    for (int64_t j = 0; j < lb_; ++j) {
      const std::vector<double>& z = ranks[static_cast<size_t>(b_row(names_, j))];
      // The permuted layer's pair (i, l) is the original's pair (perm i, perm l).
      for (int64_t i = 0; i < k; ++i)
        for (int64_t l = i + 1; l < k; ++l) {
          const int64_t u = perm[static_cast<size_t>(i)], v = perm[static_cast<size_t>(l)];
          permuted[static_cast<size_t>(kernels::upper_pair_index(i, l, k))] =
              z[static_cast<size_t>(u < v ? kernels::upper_pair_index(u, v, k) : kernels::upper_pair_index(v, u, k))];
        }
      for (int64_t i = 0; i < la_; ++i)
        terms[static_cast<size_t>(i * lb_ + j)] = kernels::correlation_from_products(
            cka::dot(ranks[static_cast<size_t>(i)].data(), permuted.data(), m), norm[static_cast<size_t>(i)],
            norm[static_cast<size_t>(b_row(names_, j))]);
    }
    terms_[0][p].add(terms, static_cast<double>(k));
  }
}

void HostNull::add_procrustes(const std::vector<const cka::FeatureView*>& rows, int64_t k) {
  std::vector<procrustes::Factor> factors;
  for (int64_t r = 0; r < rows_; ++r) factors.push_back(procrustes::factor(*rows[static_cast<size_t>(r)]));
  std::vector<double> terms(static_cast<size_t>(la_ * lb_));
  for (size_t p = 0; p < terms_[0].size(); ++p) {
    const std::vector<int32_t> perm = stats::batch_permutation(settings_.seed, batches_, static_cast<int64_t>(p), k);
    for (int64_t j = 0; j < lb_; ++j) {
      const procrustes::Factor& b = factors[static_cast<size_t>(b_row(names_, j))];
      procrustes::Factor permuted = b;  // rows are examples: reorder them
      for (int64_t i = 0; i < k; ++i)
        std::copy(b.f.begin() + perm[static_cast<size_t>(i)] * b.cols,
                  b.f.begin() + (perm[static_cast<size_t>(i)] + 1) * b.cols, permuted.f.begin() + i * b.cols);
      for (int64_t i = 0; i < la_; ++i) {
        const procrustes::Factor& a = factors[static_cast<size_t>(i)];
        terms[static_cast<size_t>(i * lb_ + j)] =
            a.constant || b.constant ? NAN
                                     : kernels::procrustes_from_nuclear(procrustes::nuclear_norm(a, permuted));
      }
    }
    terms_[0][p].add(terms, static_cast<double>(k));
  }
}

std::vector<std::vector<double>> HostNull::null_values(size_t output) const {
  std::vector<std::vector<double>> out;
  for (const stats::BatchTerms& t : terms_[output]) {
    const std::vector<double> mean = t.weighted_mean();
    if (measure_ != Measure::cka) {
      out.push_back(mean);
      continue;
    }
    std::vector<double> cells(static_cast<size_t>(la_ * lb_));
    for (int64_t i = 0; i < la_; ++i)
      for (int64_t j = 0; j < lb_; ++j) {
        const double sa = mean[static_cast<size_t>(la_ * lb_ + i)];
        const double sb = mean[static_cast<size_t>(la_ * lb_ + b_row(names_, j))];
        cells[static_cast<size_t>(i * lb_ + j)] =
            sa > 0.0 && sb > 0.0 ? mean[static_cast<size_t>(i * lb_ + j)] / std::sqrt(sa * sb) : NAN;
      }
    out.push_back(std::move(cells));
  }
  return out;
}

}  // namespace convlab::analysis_detail
