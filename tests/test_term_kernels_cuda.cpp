// The device kernels between a layer's Gram and the accumulators' (R, R) terms, against their
// CPU twins on fresh random inputs, tiny (1 to 10 values, ties, all equal) and real (k = 1000
// and 3000 examples). Skips when no GPU answers (the split of the row products is host code
// and runs everywhere).
//
// - centred ranks (rdm_ranks.h): bit for bit rsa::centred_ranks, and the RDM from a Gram too;
// - the RBF distance stats (rbf_gram.h: median, smallest nonzero, largest, by a radix select):
//   bit for bit cka::distance_spread, the even counts with the two middle values different and
//   equal among them;
// - the RBF Gram: the spread and s^2 bit for bit cka::rbf_from_linear_gram's, the entries to
//   1e-15 relative (the same distance and width; exp() of the GPU and of the C library may
//   differ in the last bit);
// - symmetric_row_products (row_products.h) against a host f64 loop to 1e-12 of
//   sqrt(P_ii P_jj), without a split and with one (and a shorter last chunk), exactly
//   symmetric and the same bits on a second run;
// - CudaCkaAccumulator with linear and two RBF widths against CkaAccumulator on float64
//   copies of the features (1e-6 on CKA, as tests/test_cka_cuda.cpp in fp32), at a batch whose
//   k^2 is split and two that are not; CudaRsaAccumulator likewise against RsaAccumulator
//   (1e-5, as tests/test_similarity_cuda.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "framework/backend/cuda_device.h"
#include "framework/core/tensor.h"

#if CONVLAB_WITH_CUDA
#include "framework/backend/cuda/cuda_context.h"
#include "tests/support/cuda_test.h"
#include "framework/cka/accumulator.h"
#include "framework/cka/cuda/cuda_accumulator.h"
#include "framework/cka/cuda/rbf_gram.h"
#include "framework/cka/cuda/row_products.h"
#include "framework/cka/gram.h"
#include "framework/rsa/cuda/cuda_rsa.h"
#include "framework/rsa/cuda/rdm_ranks.h"
#include "framework/rsa/rdm.h"
#include "framework/rsa/rsa.h"
#include "kernels/gram.h"
#include "kernels/rsa.h"

using namespace convlab;

namespace {

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Every entry the same bits; reports the count and the first difference.
void expect_same_bits(const std::vector<double>& got, const std::vector<double>& ref, const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  size_t wrong = 0, first = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (!same_bits(got[i], ref[i])) {
      if (wrong == 0) first = i;
      ++wrong;
    }
  EXPECT_EQ(wrong, 0u) << what << ": first at " << first << ": " << got[first] << " vs " << ref[first];
}

enum class Features {
  normal,      // distinct distances
  binary,      // 0/1 features: a handful of distinct distances, many ties
  duplicated,  // every third example repeats the one before: zero distances among the others
  constant,    // all distances zero
};

// (n, p) features of a kind.
std::vector<double> features(int64_t n, int64_t p, Features kind, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_int_distribution<int> bit(0, 1);
  std::vector<double> x(static_cast<size_t>(n * p));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < p; ++c) {
      double v = 0.0;
      switch (kind) {
        case Features::normal: v = normal(rng); break;
        case Features::binary: v = bit(rng); break;
        case Features::duplicated: v = i % 3 == 0 && i > 0 ? x[(i - 1) * p + c] : normal(rng); break;
        case Features::constant: v = 2.5; break;
      }
      x[i * p + c] = v;
    }
  return x;
}

// The Gram X X^T (n, n) in f64, both triangles the same bits.
std::vector<double> gram_of(const std::vector<double>& x, int64_t n, int64_t p) {
  std::vector<double> g(static_cast<size_t>(n * n));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i; j < n; ++j) {
      double s = 0.0;
      for (int64_t c = 0; c < p; ++c) s += x[i * p + c] * x[j * p + c];
      g[i * n + j] = g[j * n + i] = s;
    }
  return g;
}

// A "Gram" whose squared distances over the pairs i < j (row by row) are exactly `d`: zero
// diagonal and K_ij = -d / 2 (exact for these values), so that K_ii + K_jj - 2 K_ij = d.
std::vector<double> gram_with_distances(int64_t n, const std::vector<double>& d) {
  EXPECT_EQ(static_cast<int64_t>(d.size()), n * (n - 1) / 2);
  std::vector<double> g(static_cast<size_t>(n * n), 0.0);
  size_t at = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j, ++at) g[i * n + j] = g[j * n + i] = -0.5 * d[at];
  return g;
}

// The sorted squared distances over the pairs i < j, as the CPU computes them.
std::vector<double> sorted_distances(const std::vector<double>& g, int64_t n) {
  std::vector<double> d;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) d.push_back(kernels::squared_distance(g[i * n + i], g[j * n + j], g[i * n + j]));
  std::sort(d.begin(), d.end());
  return d;
}

struct GramCase {
  std::string what;
  int64_t n;
  std::vector<double> gram;
};

std::vector<GramCase> gram_cases() {
  std::vector<GramCase> out;
  // Tiny, with chosen distances: m = 1, 3 (odd), 6, 10 (even).
  out.push_back({"m = 1", 2, gram_with_distances(2, {0.75})});
  out.push_back({"m = 1, zero", 2, gram_with_distances(2, {0.0})});
  out.push_back({"m = 3", 3, gram_with_distances(3, {3.0, 1.0, 2.0})});
  out.push_back({"m = 3, ties", 3, gram_with_distances(3, {2.0, 0.0, 2.0})});
  out.push_back({"m = 6, middles differ", 4, gram_with_distances(4, {6.0, 1.0, 4.0, 3.0, 5.0, 2.0})});
  out.push_back({"m = 6, middles equal", 4, gram_with_distances(4, {3.0, 1.0, 6.0, 3.0, 5.0, 3.0})});
  out.push_back({"m = 6, middles differ over ties", 4, gram_with_distances(4, {2.0, 2.0, 2.0, 7.0, 7.0, 7.0})});
  out.push_back({"m = 6, all equal", 4, gram_with_distances(4, {1.5, 1.5, 1.5, 1.5, 1.5, 1.5})});
  out.push_back({"m = 6, all zero", 4, gram_with_distances(4, {0.0, 0.0, 0.0, 0.0, 0.0, 0.0})});
  out.push_back({"m = 6, half zero", 4, gram_with_distances(4, {0.0, 0.5, 0.0, 0.5, 0.0, 0.5})});
  out.push_back({"m = 10, an infinity", 5,
                 gram_with_distances(5, {1.0, 9.0, std::numeric_limits<double>::infinity(), 4.0, 16.0, 0.0, 25.0,
                                         36.0, 2.0, 3.0})});
  out.push_back({"m = 10, negative rounding clamped", 5,
                 gram_with_distances(5, {-1.0, 9.0, 0.25, -4.0, 16.0, 0.0, 25.0, 36.0, 2.0, 3.0})});
  // Features of every kind, small and real (n = 1002: an odd number of pairs).
  uint64_t seed = 11;
  for (const int64_t n : {5, 6, 7, 64, 1000, 1002, 3000})
    for (const Features kind : {Features::normal, Features::binary, Features::duplicated, Features::constant}) {
      if (n == 3000 && kind != Features::normal && kind != Features::binary) continue;
      const int64_t p = kind == Features::binary ? 4 : 7;
      out.push_back({"n = " + std::to_string(n) + " features " + std::to_string(static_cast<int>(kind)), n,
                     gram_of(features(n, p, kind, ++seed), n, p)});
    }
  return out;
}

class TermKernelsCuda : public test_support::CudaTest {
 protected:
  Tensor upload(const std::vector<double>& v) {
    return Tensor::from_vector<double>({static_cast<int64_t>(v.size())}, v).to(gpu());
  }
  std::vector<double> download(const Tensor& t) { return t.to(cpu()).to_vector<double>(); }
  Tensor doubles(int64_t count) { return Tensor::empty({std::max<int64_t>(count, 1)}, DType::f64, gpu()); }
  Tensor bytes(size_t count) {
    return Tensor::empty({std::max<int64_t>(static_cast<int64_t>(count), 1)}, DType::u8, gpu());
  }

  std::vector<double> gpu_ranks(const std::vector<double>& values) {
    const int64_t m = static_cast<int64_t>(values.size());
    const Tensor in = upload(values);
    Tensor out = doubles(m);
    const size_t scratch_bytes = rsa_cuda::rank_workspace_bytes(m);
    Tensor scratch = bytes(scratch_bytes);
    rsa_cuda::centred_ranks(in.data<double>(), m, scratch.data<uint8_t>(), scratch_bytes, out.data<double>(),
                            cuda().stream());
    return download(out);
  }

  // median, smallest nonzero, largest
  std::vector<double> gpu_stats(const Tensor& gram, int64_t n) {
    const size_t scratch_bytes = cka_cuda::rbf_workspace_bytes(n);
    Tensor scratch = bytes(scratch_bytes);
    Tensor stats = doubles(cka_cuda::kDistanceStats);
    cka_cuda::distance_stats(gram.data<double>(), n, scratch.data<uint8_t>(), scratch_bytes, stats.data<double>(),
                             cuda().stream());
    return download(stats);
  }
};

// The CPU's centred ranks.
std::vector<double> cpu_ranks(const std::vector<double>& values) {
  std::vector<double> out(values.size());
  rsa::centred_ranks(values.data(), static_cast<int64_t>(values.size()), out.data());
  return out;
}

TEST_F(TermKernelsCuda, CentredRanksAreTheCpusBitForBit) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> normal(1.0, 0.2);
  std::uniform_int_distribution<int> small(0, 4);
  const int64_t real_1000 = kernels::upper_pair_count(1000), real_3000 = kernels::upper_pair_count(3000);
  struct Case {
    std::string what;
    std::vector<double> values;
  };
  std::vector<Case> cases = {{"m = 1", {0.5}},
                             {"m = 2", {0.7, 0.3}},
                             {"m = 2, tie", {0.4, 0.4}},
                             {"m = 3", {0.9, 0.1, 0.5}},
                             {"m = 3, tie", {0.5, 0.1, 0.5}},
                             {"m = 4, two ties", {2.0, 1.0, 2.0, 1.0}}};
  for (const int64_t m : {int64_t{7}, int64_t{1000}, int64_t{1001}, real_1000, real_3000}) {
    std::vector<double> distinct(static_cast<size_t>(m)), ties(static_cast<size_t>(m)), rounded(static_cast<size_t>(m));
    for (auto& v : distinct) v = normal(rng);
    for (auto& v : ties) v = 0.25 * small(rng);
    for (auto& v : rounded) v = std::round(normal(rng) * 1000.0) / 1000.0;  // ~1500 distinct values
    cases.push_back({"m = " + std::to_string(m) + " distinct", distinct});
    cases.push_back({"m = " + std::to_string(m) + " five values", ties});
    cases.push_back({"m = " + std::to_string(m) + " rounded", rounded});
    cases.push_back({"m = " + std::to_string(m) + " all equal", std::vector<double>(static_cast<size_t>(m), 1.25)});
  }
  for (const Case& c : cases) {
    const std::vector<double> got = gpu_ranks(c.values);
    expect_same_bits(got, cpu_ranks(c.values), c.what);
    expect_same_bits(gpu_ranks(c.values), got, c.what + ", second run");
  }
}

// rdm_upper then centred_ranks from a row-centred Gram, as CudaRsaAccumulator runs them.
TEST_F(TermKernelsCuda, RdmRanksFromAGramAreTheCpusBitForBit) {
  for (const int64_t k : {3, 4, 1000}) {
    std::vector<double> x = features(k, 9, Features::normal, 100 + static_cast<uint64_t>(k));
    for (int64_t i = 0; i < k; ++i) {  // centre each example's features, as the RSA does
      double mean = 0.0;
      for (int64_t c = 0; c < 9; ++c) mean += x[i * 9 + c];
      mean /= 9.0;
      for (int64_t c = 0; c < 9; ++c) x[i * 9 + c] -= mean;
    }
    for (int64_t c = 0; c < 9; ++c) x[(k - 1) * 9 + c] = 0.0;  // one constant example: distance 1
    const std::vector<double> g = gram_of(x, k, 9);
    const int64_t m = kernels::upper_pair_count(k);
    std::vector<double> distances(static_cast<size_t>(m)), ranks(static_cast<size_t>(m));
    const int64_t constant = rsa::rdm_upper(g.data(), k, distances.data());
    rsa::centred_ranks(distances.data(), m, ranks.data());

    const Tensor gram = upload(g);
    Tensor d = doubles(m), z = doubles(m);
    Tensor count = Tensor::zeros({1}, DType::i32, cpu()).to(gpu());
    rsa_cuda::rdm_upper(gram.data<double>(), k, d.data<double>(), count.data<int32_t>(), cuda().stream());
    const size_t scratch_bytes = rsa_cuda::rank_workspace_bytes(m);
    Tensor scratch = bytes(scratch_bytes);
    rsa_cuda::centred_ranks(d.data<double>(), m, scratch.data<uint8_t>(), scratch_bytes, z.data<double>(),
                            cuda().stream());
    const std::string what = "k = " + std::to_string(k);
    expect_same_bits(download(d), distances, what + " distances");
    expect_same_bits(download(z), ranks, what + " ranks");
    EXPECT_EQ(count.to(cpu()).to_vector<int32_t>()[0], constant) << what;
  }
}

TEST_F(TermKernelsCuda, DistanceStatsAreTheCpusBitForBit) {
  bool middles_equal = false, middles_differ = false, odd = false, zeros_and_ties = false;
  for (const GramCase& c : gram_cases()) {
    const cka::DistanceSpread ref = cka::distance_spread(c.gram.data(), c.n);
    const Tensor gram = upload(c.gram);
    const std::vector<double> got = gpu_stats(gram, c.n);
    EXPECT_TRUE(same_bits(got[0], ref.median)) << c.what << ": median " << got[0] << " vs " << ref.median;
    EXPECT_TRUE(same_bits(got[1], ref.smallest_nonzero))
        << c.what << ": smallest nonzero " << got[1] << " vs " << ref.smallest_nonzero;
    EXPECT_TRUE(same_bits(got[2], ref.largest)) << c.what << ": largest " << got[2] << " vs " << ref.largest;
    const std::vector<double> second = gpu_stats(gram, c.n);
    for (int s = 0; s < 3; ++s) EXPECT_TRUE(same_bits(second[s], got[s])) << c.what << ": second run, stat " << s;
    expect_same_bits(download(gram), c.gram, c.what + ": the Gram is read only");
    // What the cases covered.
    const std::vector<double> d = sorted_distances(c.gram, c.n);
    const size_t m = d.size(), mid = m / 2;
    if (m % 2 == 1) odd = true;
    if (m % 2 == 0 && d[mid - 1] == d[mid]) middles_equal = true;
    if (m % 2 == 0 && d[mid - 1] != d[mid] && c.n >= 1000) middles_differ = true;
    if (d.front() == 0.0 && std::adjacent_find(d.begin(), d.end()) != d.end() && d.back() > 0.0) zeros_and_ties = true;
  }
  EXPECT_TRUE(middles_equal && middles_differ && odd && zeros_and_ties)
      << middles_equal << middles_differ << odd << zeros_and_ties;
}

TEST_F(TermKernelsCuda, RbfGramIsTheCpus) {
  for (const GramCase& c : gram_cases()) {
    if (c.what.find("infinity") != std::string::npos || c.what.find("negative") != std::string::npos) continue;
    const Tensor gram = upload(c.gram);
    const size_t scratch_bytes = cka_cuda::rbf_workspace_bytes(c.n);
    Tensor scratch = bytes(scratch_bytes);
    Tensor stats = doubles(cka_cuda::kDistanceStats);
    cka_cuda::distance_stats(gram.data<double>(), c.n, scratch.data<uint8_t>(), scratch_bytes, stats.data<double>(),
                             cuda().stream());
    for (const double frac : {1.0, 0.6}) {
      const std::string what = c.what + ", frac " + std::to_string(frac);
      std::vector<double> ref = c.gram;
      cka::DistanceSpread spread;
      double width_sq = 0.0;
      try {
        width_sq = cka::rbf_from_linear_gram(ref.data(), c.n, frac, "test", &spread);
      } catch (const Error&) {
        continue;  // a width that does not fit these distances: the host throws on the GPU's spread as well
      }
      Tensor out = doubles(c.n * c.n), spread_out = doubles(3);
      cka_cuda::rbf_from_linear_gram(gram.data<double>(), c.n, frac, stats.data<double>(), out.data<double>(),
                                     spread_out.data<double>(), scratch.data<uint8_t>(), scratch_bytes,
                                     cuda().stream());
      const std::vector<double> got = download(out), got_spread = download(spread_out);
      EXPECT_TRUE(same_bits(got_spread[0], spread.smallest_nonzero)) << what;
      EXPECT_TRUE(same_bits(got_spread[1], spread.largest)) << what;
      EXPECT_TRUE(same_bits(got_spread[2], width_sq)) << what << ": s^2 " << got_spread[2] << " vs " << width_sq;
      ASSERT_EQ(got.size(), ref.size());
      size_t wrong = 0;
      for (size_t e = 0; e < got.size(); ++e)
        if (!(std::abs(got[e] - ref[e]) <= 1e-15 * std::abs(ref[e]))) {
          if (wrong++ == 0) ADD_FAILURE() << what << ": entry " << e << " " << got[e] << " vs " << ref[e];
        }
      EXPECT_EQ(wrong, 0u) << what;
      expect_same_bits(download(gram), c.gram, what + ": the linear Gram is not changed");
    }
  }
}

// scale * rows rows^T in f64, entry by entry.
std::vector<double> host_row_products(const std::vector<double>& rows, int64_t r, int64_t d, double scale) {
  std::vector<double> out(static_cast<size_t>(r * r));
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < r; ++j) {
      double s = 0.0;
      for (int64_t t = 0; t < d; ++t) s += rows[i * d + t] * rows[j * d + t];
      out[i * r + j] = scale * s;
    }
  return out;
}

TEST_F(TermKernelsCuda, RowProductsMatchAHostLoop) {
  struct Case {
    int64_t r, d;
    int sms;  // 0: the device's
  };
  const int device_sms = cuda().multiprocessors();
  ASSERT_GT(device_sms, 0);
  bool split = false, whole = false;
  for (const Case c : {Case{3, 100, 0}, Case{4, 16383, 0}, Case{1, 40001, 1}, Case{5, 1000777, 0}, Case{20, 50001, 7},
                       Case{7, 16384, 1}}) {
    const int sms = c.sms > 0 ? c.sms : device_sms;
    const std::string what = "R " + std::to_string(c.r) + ", D " + std::to_string(c.d) + ", " + std::to_string(sms) +
                             " SMs";
    std::mt19937_64 rng(static_cast<uint64_t>(c.r * 1000003 + c.d));
    std::uniform_real_distribution<double> uniform(-1.0, 1.0);
    std::vector<double> rows(static_cast<size_t>(c.r * c.d));
    for (double& v : rows) v = uniform(rng);
    const double scale = 0.37;
    const std::vector<double> ref = host_row_products(rows, c.r, c.d, scale);
    const cka_cuda::RowProductSplit cut = cka_cuda::row_product_split(c.d, sms);
    (cut.partials() > 1 ? split : whole) = true;
    const int64_t scratch_doubles = cka_cuda::symmetric_row_products_workspace_doubles(c.r, c.d, sms);
    const Tensor a = upload(rows);
    Tensor out = doubles(c.r * c.r), scratch = doubles(scratch_doubles);
    auto run = [&] {
      cka_cuda::symmetric_row_products(cuda().cublas(), a.data<double>(), c.r, c.d, scale, out.data<double>(),
                                       scratch.data<double>(), scratch_doubles, sms, cuda().stream());
      return download(out);
    };
    const std::vector<double> got = run();
    for (int64_t i = 0; i < c.r; ++i)
      for (int64_t j = 0; j < c.r; ++j) {
        const double size = std::sqrt(ref[i * c.r + i] * ref[j * c.r + j]);
        EXPECT_NEAR(got[i * c.r + j], ref[i * c.r + j], 1e-12 * size) << what << " (" << i << ", " << j << ")";
        if (cut.partials() > 1) {
          EXPECT_TRUE(same_bits(got[i * c.r + j], got[j * c.r + i])) << what << ": symmetric (" << i << ", " << j << ")";
        }
      }
    expect_same_bits(run(), got, what + ", second run");
  }
  EXPECT_TRUE(split && whole);
}

// Layers of features that share 4 latent factors: (n, p) f32 each.
struct Layers {
  std::vector<int64_t> widths;
  std::vector<std::vector<float>> values;
  std::vector<std::string> names;
};

Layers make_layers(int64_t n, const std::vector<int64_t>& widths, uint64_t seed) {
  std::mt19937_64 shared(17), rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> z(static_cast<size_t>(n * 4));
  for (float& v : z) v = normal(shared);
  Layers out;
  for (size_t l = 0; l < widths.size(); ++l) {
    const int64_t p = widths[l];
    std::vector<float> w(static_cast<size_t>(4 * p));
    for (float& v : w) v = normal(rng);
    std::vector<float> x(static_cast<size_t>(n * p));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < p; ++c) {
        float m = 0.0f;
        for (int64_t f = 0; f < 4; ++f) m += z[i * 4 + f] * w[f * p + c];
        m += 0.5f * normal(rng);
        x[i * p + c] = l % 2 == 0 ? std::max(m, 0.0f) + 1.0f : std::tanh(0.5f * m);
      }
    out.widths.push_back(p);
    out.values.push_back(std::move(x));
    out.names.push_back("l" + std::to_string(l));
  }
  return out;
}

// Batches of 200 (k^2 = 40,000 and k (k - 1) / 2 = 19,900: both split on any GPU of 2+ SMs),
// 64 and a ragged 37 (not split).
const std::vector<int64_t> kBatches = {200, 64, 37};

TEST_F(TermKernelsCuda, CkaAccumulatorWithTwoRbfWidthsAndLinearMatchesTheCpu) {
  int64_t n = 0;
  for (int64_t b : kBatches) n += b;
  const Layers layers = make_layers(n, {300, 40, 5}, 23);
  const std::vector<cka::Kernel> kernels = {cka::Kernel::linear(), cka::Kernel::rbf(1.0), cka::Kernel::rbf(0.6)};
  for (const cka::Estimator estimator : {cka::Estimator::biased, cka::Estimator::debiased}) {
    cka::CkaAccumulator ref(3, 0, kernels, estimator);
    cka::CudaCkaAccumulator got(cuda(), 3, 0, kernels, estimator, cka::GramPrecision::fp32);
    int64_t first = 0;
    for (const int64_t count : kBatches) {
      std::vector<std::vector<double>> copies;
      std::vector<Tensor> uploads;
      std::vector<cka::FeatureView> host;
      std::vector<cka::DeviceFeatureView> device;
      for (size_t l = 0; l < 3; ++l) {
        const int64_t p = layers.widths[l];
        const float* rows = layers.values[l].data() + first * p;
        copies.emplace_back(rows, rows + count * p);
        uploads.push_back(
            Tensor::from_vector<float>({count, p}, std::vector<float>(rows, rows + count * p)).to(gpu()));
      }
      for (size_t l = 0; l < 3; ++l) {
        host.emplace_back(copies[l], count, layers.widths[l], layers.names[l]);
        device.emplace_back(uploads[l], layers.names[l]);
      }
      ref.add_batch(host);
      got.add_batch(device);
      first += count;
    }
    EXPECT_EQ(got.linear_grams(), 3 * static_cast<int64_t>(kBatches.size()));
    for (size_t s = 0; s < kernels.size(); ++s) {
      const std::string what = kernels[s].str() + " " + cka::estimator_name(estimator);
      const std::vector<double> cka_ref = ref.result(s), cka_got = got.result(s);
      ASSERT_EQ(cka_got.size(), cka_ref.size()) << what;
      for (size_t e = 0; e < cka_ref.size(); ++e) EXPECT_NEAR(cka_got[e], cka_ref[e], 1e-6) << what << " " << e;
      const std::vector<double> hsic_ref = ref.mean_hsic(s), hsic_got = got.mean_hsic(s);
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t j = 0; j < 3; ++j) {
          const double size = std::sqrt(std::abs(hsic_ref[i * 3 + i] * hsic_ref[j * 3 + j]));
          EXPECT_NEAR(hsic_got[i * 3 + j], hsic_ref[i * 3 + j], 1e-6 * size) << what << " HSIC " << i << ", " << j;
        }
    }
  }
}

TEST_F(TermKernelsCuda, RsaAccumulatorMatchesTheCpu) {
  int64_t n = 0;
  for (int64_t b : kBatches) n += b;
  const Layers layers = make_layers(n, {300, 40, 5}, 29);
  rsa::RsaAccumulator ref(3, 0);
  rsa::CudaRsaAccumulator got(cuda(), 3, 0, cka::GramPrecision::fp32);
  int64_t first = 0;
  for (const int64_t count : kBatches) {
    std::vector<Tensor> uploads;
    std::vector<cka::FeatureView> host;
    std::vector<cka::DeviceFeatureView> device;
    for (size_t l = 0; l < 3; ++l) {
      const int64_t p = layers.widths[l];
      const float* rows = layers.values[l].data() + first * p;
      uploads.push_back(Tensor::from_vector<float>({count, p}, std::vector<float>(rows, rows + count * p)).to(gpu()));
      host.emplace_back(rows, count, p, layers.names[l]);
    }
    for (size_t l = 0; l < 3; ++l) device.emplace_back(uploads[l], layers.names[l]);
    ref.add_batch(host);
    got.add_batch(device);
    first += count;
  }
  const std::vector<double> a = got.result(), b = ref.result();
  ASSERT_EQ(a.size(), b.size());
  for (size_t e = 0; e < a.size(); ++e) EXPECT_NEAR(a[e], b[e], 1e-5) << e;
}

}  // namespace

// Host code: runs without a GPU.
TEST(TermKernelsSplit, CutsLongRowsIntoAboutTwoChunksPerSm) {
  using cka_cuda::row_product_split;
  for (const int sms : {0, 1, 7, 132}) {
    const cka_cuda::RowProductSplit short_rows = row_product_split(2 * cka_cuda::kMinRowProductChunk - 1, sms);
    EXPECT_EQ(short_rows.partials(), 1);
    EXPECT_EQ(short_rows.chunk, 2 * cka_cuda::kMinRowProductChunk - 1);
    EXPECT_EQ(cka_cuda::symmetric_row_products_workspace_doubles(20, 2 * cka_cuda::kMinRowProductChunk - 1, sms), 0);
  }
  EXPECT_EQ(row_product_split(int64_t{1} << 30, 0).partials(), 1);  // no SM count: no split
  for (const int sms : {1, 7, 132})
    for (const int64_t d : {int64_t{16384}, int64_t{50001}, int64_t{1000777}, int64_t{100000000}, int64_t{2147395600}}) {
      const cka_cuda::RowProductSplit s = row_product_split(d, sms);
      const std::string what = "D " + std::to_string(d) + ", " + std::to_string(sms) + " SMs";
      EXPECT_GE(s.chunk, cka_cuda::kMinRowProductChunk) << what;
      EXPECT_EQ(s.chunk % 256, 0) << what;
      EXPECT_GE(s.full, 1) << what;
      EXPECT_EQ(s.full * s.chunk + s.remainder, d) << what;
      EXPECT_GE(s.remainder, 0) << what;
      EXPECT_LT(s.remainder, s.chunk) << what;
      EXPECT_LE(s.chunk, d) << what;
      EXPECT_LE(s.partials(), cka_cuda::kRowProductChunksPerSm * sms + 1) << what;
      if (d / (2 * sms) >= cka_cuda::kMinRowProductChunk) {
        EXPECT_GE(s.partials(), sms) << what;
      }
      EXPECT_EQ(cka_cuda::symmetric_row_products_workspace_doubles(20, d, sms),
                s.partials() > 1 ? s.partials() * 400 : 0)
          << what;
    }
  EXPECT_THROW(cka_cuda::symmetric_row_products_workspace_doubles(3, int64_t{1} << 31, 132), Error);
  EXPECT_THROW(cka_cuda::symmetric_row_products_workspace_doubles(0, 100, 132), Error);
}

#else

TEST(TermKernelsCuda, NeedsTheCudaBuild) { GTEST_SKIP() << "convlab was built without CUDA"; }

#endif  // CONVLAB_WITH_CUDA
