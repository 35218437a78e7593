// The GPU memory estimate of an analysis (framework/analysis/device_memory.h) and the refusal
// built on it, on the CPU: sizes against the buffers the CUDA measures allocate, and the batch
// size the message proposes against the estimate itself.
#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <vector>

#include "framework/analysis/device_memory.h"
#include "tests/support/error_of.h"

namespace convlab {
namespace {

// All-CNN-C depth 1's ten layers.
const std::vector<int64_t> kAllCnnC = {98304, 98304, 24576, 49152, 49152, 12288, 6912, 6912, 360, 10};

uint64_t part(const DeviceMemoryEstimate& e, const std::string& what) {
  for (const auto& p : e.parts)
    if (p.what == what) return p.bytes;
  ADD_FAILURE() << "no part " << what << " in " << e.describe();
  return 0;
}

CompareSettings measures(std::vector<Measure> m, std::vector<cka::Kernel> kernels = {cka::Kernel::linear()}) {
  CompareSettings s;
  s.measures = std::move(m);
  s.kernels = std::move(kernels);
  return s;
}

TEST(DeviceMemory, TheLargestPartsAreTheBuffersTheMeasuresAllocate) {
  const int64_t k = 1000;
  const DeviceMemoryEstimate e =
      estimate_device_memory(kAllCnnC, {}, k, measures({Measure::cka, Measure::rsa, Measure::procrustes},
                                                       {cka::Kernel::linear(), cka::Kernel::rbf(1.0)}));
  uint64_t values = 0;
  for (int64_t p : kAllCnnC) values += static_cast<uint64_t>(p);
  EXPECT_EQ(part(e, "features"), values * k * 4);
  // G (R, k^2) f64 for each of two kernels, 10 layers: 160 MB, plus a linear Gram and sums.
  EXPECT_GE(part(e, "CKA Grams"), 2u * 10 * k * k * 8);
  EXPECT_LE(part(e, "CKA Grams"), 2u * 10 * k * k * 8 + 20'000'000);
  // Z (R, m) f64 of m = k(k - 1)/2 ranks: 40 MB, plus the distances and the sort.
  const uint64_t m = k * (k - 1) / 2;
  EXPECT_GE(part(e, "RSA"), 10 * m * 8 + m * 8);
  EXPECT_LE(part(e, "RSA"), 10 * m * 8 + 60 * m + 20'000'000);
  // Factors (k, min(p, k)): eight layers of k columns, and 360 and 10.
  const uint64_t factors = (8 * k + 360 + 10) * k * 8;
  EXPECT_GE(part(e, "Procrustes"), factors);
  EXPECT_LE(part(e, "Procrustes"), factors + 60 * k * k);
  EXPECT_EQ(e.to_allocate(), e.total() - part(e, "features"));
  EXPECT_NE(e.describe().find("CKA Grams " + memory_text(part(e, "CKA Grams"))), std::string::npos) << e.describe();
}

// The five float64 measures (and CKA's permutation null) share one set of float64 Grams: a
// (k, 2048) f64 block, the (k, k) Gram and cuSOLVER's workspace, counted once.
TEST(DeviceMemory, TheFloat64MeasuresShareOneGramStep) {
  const int64_t k = 1000;
  const uint64_t one = [&] {
    const DeviceMemoryEstimate e = estimate_device_memory(kAllCnnC, {}, k, measures({Measure::mutual_knn}));
    return part(e, "float64 Grams");
  }();
  EXPECT_GE(one, static_cast<uint64_t>(k * 2048 * 8 + 3 * k * k * 8));
  EXPECT_LE(one, static_cast<uint64_t>(k * 2048 * 8 + 3 * k * k * 8 + 2'000'000));
  const DeviceMemoryEstimate all = estimate_device_memory(
      kAllCnnC, {}, k,
      measures({Measure::mutual_knn, Measure::cknna, Measure::svcca, Measure::pwcca, Measure::ridge}));
  EXPECT_EQ(part(all, "float64 Grams"), one);
  EXPECT_EQ(all.total(), part(all, "features") + one + part(all, "SVCCA pair products") +
                             part(all, "PWCCA pair products") + part(all, "ridge pair products"));
  // Ridge, A against itself: every layer's residual operator and target, and M L: 21 (k, k).
  EXPECT_EQ(part(all, "ridge pair products"), static_cast<uint64_t>(21 * k * k * 8 + k * 8));
  // SVCCA: each layer's basis, at most (k, min(p, k)), and C and its Gram.
  uint64_t bases = 0;
  for (int64_t p : kAllCnnC) bases += static_cast<uint64_t>(k * std::min<int64_t>(p, k) * 8);
  EXPECT_EQ(part(all, "SVCCA pair products"), bases + static_cast<uint64_t>(2 * k * k * 8));
  CompareSettings cka = measures({Measure::cka});
  const uint64_t without = estimate_device_memory(kAllCnnC, {}, k, cka).total();
  cka.permutations = 10;
  EXPECT_EQ(estimate_device_memory(kAllCnnC, {}, k, cka).total(), without + one);
}

TEST(DeviceMemory, APairCountsBothNetworksLayers) {
  const CompareSettings s = measures({Measure::cka});
  const DeviceMemoryEstimate self = estimate_device_memory({5000, 500}, {}, 200, s);
  const DeviceMemoryEstimate pair = estimate_device_memory({5000, 500}, {300}, 200, s);
  EXPECT_EQ(part(pair, "features") - part(self, "features"), 300u * 200 * 4);
  EXPECT_EQ(part(pair, "CKA Grams") - part(self, "CKA Grams"), 200u * 200 * 8 + 512u * (9 - 4) * 8);
}

TEST(DeviceMemory, EnoughMemoryPasses) {
  const CompareSettings s = measures({Measure::cka, Measure::rsa});
  const DeviceMemoryEstimate e = estimate_device_memory(kAllCnnC, {}, 1000, s);
  EXPECT_NO_THROW(check_device_memory(kAllCnnC, {}, 1000, s, e.to_allocate(), "cuda:0 (test)"));
}

// Too little memory: the message gives the estimate by part and a batch size that fits, the
// largest one: its estimate fits in what is free plus the current batch's features, one more
// example's does not.
TEST(DeviceMemory, TooLittleMemoryNamesTheBatchSizeThatFits) {
  const CompareSettings s = measures({Measure::cka, Measure::rsa, Measure::procrustes});
  const int64_t k = 10000;
  const DeviceMemoryEstimate e = estimate_device_memory(kAllCnnC, {}, k, s);
  const uint64_t available = e.to_allocate() / 5;
  const std::string error = test_support::error_of([&] { check_device_memory(kAllCnnC, {}, k, s, available, "cuda:0 (test)"); });
  EXPECT_NE(error.find("GPU memory per batch of 10000 examples"), std::string::npos) << error;
  EXPECT_NE(error.find("cuda:0 (test) has " + memory_text(available) + " free"), std::string::npos) << error;
  EXPECT_NE(error.find("CKA Grams"), std::string::npos) << error;
  std::smatch match;
  ASSERT_TRUE(std::regex_search(error, match, std::regex("lower --batch-size to ([0-9]+) or less"))) << error;
  const int64_t proposed = std::stoll(match[1]);
  EXPECT_LT(proposed, k);
  const uint64_t room = available + part(e, "features");
  EXPECT_LE(estimate_device_memory(kAllCnnC, {}, proposed, s).total(), room);
  EXPECT_GT(estimate_device_memory(kAllCnnC, {}, proposed + 1, s).total(), room);
}

TEST(DeviceMemory, WhenNoBatchFitsTheMessageSaysWhatElseToDo) {
  const CompareSettings s = measures({Measure::cka});
  // Batches of 4 already: their column statistics alone (64 slices of the widest layer) exceed 1 kB.
  const std::string error =
      test_support::error_of([&] { check_device_memory(kAllCnnC, {}, 8, s, 1000, "cuda:0 (test)"); });
  EXPECT_NE(error.find("even batches of 4 do not fit"), std::string::npos) << error;
  EXPECT_NE(error.find("--device cpu"), std::string::npos) << error;
}

}  // namespace
}  // namespace convlab
