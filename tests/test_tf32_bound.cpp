// What TF32 Gram products do to each measure, bounded on the CPU: a GPU in TF32 mode rounds
// the centred f32 features to TF32 (10 mantissa bits) before multiplying them (cuBLAS's
// CUBLAS_COMPUTE_32F_FAST_TF32), and sums the products in fp32. Here the centred features are
// rounded the same way (to nearest, and, the worst case, truncated) and each measure is
// computed from them in f64 on the CPU; the difference from the unrounded features is TF32's
// effect. Layers: ReLU mixtures of a few shared factors (as trained layers) and near-low-rank
// ones (three directions and 1e-3 of noise), where the small directions that Procrustes and RSA
// weigh most are closest to the rounding.
//
// What it shows (docs/RESULTS.md, "TF32 and the measures"): on these layers every measure
// moves by a few 1e-6 at most, CKA well within its documented 1e-4, RSA and Procrustes within
// kTf32SimulatedBound (1e-5). The GPU tests of RSA and Procrustes in TF32
// (test_similarity_cuda.cpp) allow that plus what their fp32 tests allow for the GPU's fp32
// sums (tests/support/tf32_tolerances.h). RSA and Procrustes still default to fp32: a
// layer whose measure hangs on directions near TF32's rounding can move by more.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "framework/cka/accumulator.h"
#include "framework/procrustes/procrustes.h"
#include "framework/rsa/rsa.h"
#include "tests/support/tf32_tolerances.h"

namespace convlab {
namespace {

enum class Rounding { nearest, truncate };

// f32 to the nearest TF32 value (ties to even), or towards zero: the low 13 of 23 mantissa
// bits cleared.
float to_tf32(float v, Rounding rounding) {
  uint32_t bits = 0;
  std::memcpy(&bits, &v, sizeof bits);
  if (rounding == Rounding::nearest) bits += 0xfffu + ((bits >> 13) & 1u);
  bits &= ~0x1fffu;
  float out = 0.0f;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

using Layer = std::vector<float>;  // (n, p) row-major

// ReLU(Z W + noise) + 1 for shared factors Z (n, f) (as a trained layer), or, decaying, Z W
// with the factors' scales falling from 1 to 1e-4 and 1e-5 of noise: a spectrum whose small
// directions lie close to TF32's rounding, which Procrustes's nuclear norm and RSA's ranks of
// near distances weigh.
Layer make_layer(int64_t n, int64_t p, const std::vector<float>& z, int64_t factors, bool decaying, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> w(static_cast<size_t>(factors * p));
  for (int64_t f = 0; f < factors; ++f)
    for (int64_t c = 0; c < p; ++c)
      w[static_cast<size_t>(f * p + c)] =
          normal(rng) * (decaying ? std::pow(10.0f, -4.0f * static_cast<float>(f) / static_cast<float>(factors - 1)) : 1.0f);
  Layer x(static_cast<size_t>(n * p));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < p; ++c) {
      float m = 0.0f;
      for (int64_t f = 0; f < factors; ++f) m += z[static_cast<size_t>(i * factors + f)] * w[static_cast<size_t>(f * p + c)];
      x[static_cast<size_t>(i * p + c)] = decaying ? m + 1e-5f * normal(rng) : std::max(m + 0.3f * normal(rng), 0.0f) + 1.0f;
    }
  return x;
}

// Centred per column (CKA, Procrustes) or per row (RSA), as the GPU centres before its
// products, then rounded to TF32 (or left in f32).
Layer centred(const Layer& x, int64_t n, int64_t p, bool rows, std::optional<Rounding> rounding) {
  Layer out(x.size());
  if (rows) {
    for (int64_t i = 0; i < n; ++i) {
      double sum = 0.0;
      for (int64_t c = 0; c < p; ++c) sum += x[static_cast<size_t>(i * p + c)];
      const float mean = static_cast<float>(sum / static_cast<double>(p));
      for (int64_t c = 0; c < p; ++c) out[static_cast<size_t>(i * p + c)] = x[static_cast<size_t>(i * p + c)] - mean;
    }
  } else {
    for (int64_t c = 0; c < p; ++c) {
      double sum = 0.0;
      for (int64_t i = 0; i < n; ++i) sum += x[static_cast<size_t>(i * p + c)];
      const float mean = static_cast<float>(sum / static_cast<double>(n));
      for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i * p + c)] = x[static_cast<size_t>(i * p + c)] - mean;
    }
  }
  if (rounding)
    for (float& v : out) v = to_tf32(v, *rounding);
  return out;
}

struct Measured {
  std::vector<double> cka, rsa, procrustes;  // (L, L) each
};

Measured measure(const std::vector<Layer>& layers, const std::vector<int64_t>& widths, int64_t n,
                 std::optional<Rounding> rounding) {
  std::vector<Layer> by_column, by_row;
  std::vector<cka::FeatureView> columns, rows;
  for (size_t l = 0; l < layers.size(); ++l) {
    by_column.push_back(centred(layers[l], n, widths[l], false, rounding));
    by_row.push_back(centred(layers[l], n, widths[l], true, rounding));
  }
  for (size_t l = 0; l < layers.size(); ++l) {
    columns.emplace_back(by_column[l], n, widths[l]);
    rows.emplace_back(by_row[l], n, widths[l]);
  }
  const int64_t count = static_cast<int64_t>(layers.size());
  cka::CkaAccumulator cka_acc(count, {cka::Kernel::linear(), cka::Estimator::debiased});
  rsa::RsaAccumulator rsa_acc(count, 0);
  procrustes::ProcrustesAccumulator procrustes_acc(count, 0);
  cka_acc.add_batch(columns);
  rsa_acc.add_batch(rows);
  procrustes_acc.add_batch(columns);
  return {cka_acc.result(), rsa_acc.result(), procrustes_acc.result()};
}

double largest_difference(const std::vector<double>& a, const std::vector<double>& b) {
  double d = 0.0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(a[i] - b[i]));
  return d;
}

TEST(Tf32Bound, EachMeasureMovesWithinItsStatedBound) {
  const int64_t n = 300;  // one batch; widths on both sides of it (Procrustes: both forms)
  const std::vector<int64_t> widths = {260, 1100, 260, 1100};
  std::mt19937_64 shared(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const bool low_rank : {false, true}) {
    const int64_t factors = low_rank ? 40 : 5;
    std::vector<float> z(static_cast<size_t>(n * factors));
    for (float& v : z) v = normal(shared);
    std::vector<Layer> layers;
    for (size_t l = 0; l < widths.size(); ++l)
      layers.push_back(make_layer(n, widths[l], z, factors, low_rank, 100 + l + (low_rank ? 10 : 0)));
    const Measured exact = measure(layers, widths, n, std::nullopt);
    for (const Rounding rounding : {Rounding::nearest, Rounding::truncate}) {
      const Measured tf32 = measure(layers, widths, n, rounding);
      const double cka = largest_difference(tf32.cka, exact.cka);
      const double rsa = largest_difference(tf32.rsa, exact.rsa);
      const double procrustes = largest_difference(tf32.procrustes, exact.procrustes);
      const std::string what = std::string(low_rank ? "decaying-spectrum" : "ReLU") + " layers, TF32 " +
                               (rounding == Rounding::nearest ? "rounded to nearest" : "truncated");
      RecordProperty(what, fmt::format("CKA {:.2e} RSA {:.2e} Procrustes {:.2e}", cka, rsa, procrustes));
      std::printf("%s: largest change CKA %.2e, RSA %.2e, Procrustes %.2e\n", what.c_str(), cka, rsa, procrustes);
      EXPECT_LE(cka, 1e-4) << what;  // CKA's documented TF32 bound
      EXPECT_LE(rsa, test_support::kTf32SimulatedBound) << what;
      EXPECT_LE(procrustes, test_support::kTf32SimulatedBound) << what;
    }
  }
}

}  // namespace
}  // namespace convlab
