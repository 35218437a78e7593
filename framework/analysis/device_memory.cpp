#include "framework/analysis/device_memory.h"

#include <fmt/format.h>

#include <algorithm>

#include "framework/analysis/measure_run.h"
#include "framework/core/error.h"

namespace convlab {
namespace {

using u64 = uint64_t;

// The column block of the Gram products (cka::kGramBlock) and the largest number of row slices
// its column statistics are split into.
constexpr u64 kGramBlockColumns = 2048;
constexpr u64 kStatisticSlices = 64;

// One measure's Gram step (cka::DeviceGram) for layers up to `widest` features: the block,
// the f32 product, the column statistics (an f64 sum and a flag per slice and column).
u64 gram_step_bytes(u64 k, u64 widest) {
  return k * std::min(widest, kGramBlockColumns) * 4 + k * k * 4 + kStatisticSlices * widest * (8 + 4) + k * 4;
}

}  // namespace

u64 DeviceMemoryEstimate::total() const {
  u64 sum = 0;
  for (const Part& p : parts) sum += p.bytes;
  return sum;
}

u64 DeviceMemoryEstimate::to_allocate() const {
  u64 sum = 0;
  for (const Part& p : parts)
    if (!p.held) sum += p.bytes;
  return sum;
}

std::string memory_text(u64 bytes) {
  const double b = static_cast<double>(bytes);
  if (b >= 1e9) return fmt::format("{:.1f} GB", b / 1e9);
  if (b >= 1e6) return fmt::format("{:.0f} MB", b / 1e6);
  return fmt::format("{:.1f} kB", b / 1e3);
}

std::string DeviceMemoryEstimate::describe() const {
  std::string text;
  for (const Part& p : parts)
    if (p.bytes > 0)
      text += fmt::format("{}{} {}{}", text.empty() ? "" : ", ", p.what, memory_text(p.bytes), p.held ? " (held)" : "");
  return text;
}

DeviceMemoryEstimate estimate_device_memory(const std::vector<int64_t>& widths_a, const std::vector<int64_t>& widths_b,
                                            int64_t batch, const CompareSettings& settings) {
  CONVLAB_CHECK(batch >= 1 && !widths_a.empty(), "a memory estimate needs a batch and layers");
  std::vector<u64> widths(widths_a.begin(), widths_a.end());
  widths.insert(widths.end(), widths_b.begin(), widths_b.end());
  const u64 k = static_cast<u64>(batch), r = widths.size(), kk = k * k, pairs = k * (k - 1) / 2;
  u64 feature_values = 0, widest = 0;
  for (u64 p : widths) {
    feature_values += p;
    widest = std::max(widest, p);
  }
  DeviceMemoryEstimate e;
  e.batch = batch;
  e.parts.push_back({"features", k * feature_values * 4, true});
  for (Measure m : settings.measures) {
    switch (m) {
      case Measure::cka: {
        const u64 kernels = settings.kernels.size();
        const bool rbf = std::any_of(settings.kernels.begin(), settings.kernels.end(),
                                     [](const cka::Kernel& kernel) { return kernel.kind == cka::KernelKind::rbf; });
        // G per kernel, one linear Gram, the centring's sums, the split products (S, R, R).
        e.parts.push_back({"CKA Grams", kernels * r * kk * 8 + kk * 8 + (3 * k + 4) * 8 + 512 * r * r * 8, false});
        // The median selection: a diagonal and histograms.
        if (rbf) e.parts.push_back({"RBF", k * 8 + (u64{1} << 20), false});
        e.parts.push_back({"CKA Gram step", gram_step_bytes(k, widest), false});
        break;
      }
      case Measure::rsa:
        // The row-centred Gram, the distances, Z, and the ranking's keys, indices, run starts
        // and the radix sort's own copy of keys and indices.
        e.parts.push_back({"RSA", kk * 8 + pairs * 8 + r * pairs * 8 + pairs * (8 + 4 + 4 + 4) + pairs * (8 + 4) +
                                      (u64{1} << 20),
                           false});
        e.parts.push_back({"RSA Gram step", gram_step_bytes(k, widest), false});
        break;
      case Measure::procrustes: {
        u64 factors = 0;
        for (u64 p : widths) factors += k * std::min(p, k) * 8;
        // Factors, the Gram and eigenvectors (k, k), a feature-form block, a pair's C and its
        // square, and cuSOLVER's workspace for a k x k eigendecomposition (about 2 k^2 doubles).
        e.parts.push_back({"Procrustes", factors + kk * 8 + kk * 4 + kk * 8 + kk * 8 + k * 8 + 2 * kk * 8, false});
        e.parts.push_back({"Procrustes Gram step", gram_step_bytes(k, widest), false});
        break;
      }
      case Measure::svcca:
      case Measure::pwcca: {
        // Each row's kept basis (k, d <= min(p, k)), B's permuted copies, C and its Gram
        // (linalg::DevicePairProducts).
        u64 bases = 0, bases_b = 0;
        for (size_t i = 0; i < widths.size(); ++i) {
          const u64 basis = k * std::min(widths[i], k) * 8;
          bases += basis;
          if (widths_b.empty() || i >= widths_a.size()) bases_b += basis;
        }
        e.parts.push_back({m == Measure::svcca ? "SVCCA pair products" : "PWCCA pair products",
                           bases + (settings.permutations > 0 ? bases_b : 0) + 2 * kk * 8, false});
        break;
      }
      case Measure::ridge: {
        // A's residual operators and B's target Grams (k, k) (every row's both, for a network
        // against itself), B's permuted targets, and M L.
        const u64 a_rows = widths_a.size(), b_rows = widths_b.empty() ? widths_a.size() : widths_b.size();
        e.parts.push_back({"ridge pair products",
                           (a_rows + b_rows + (settings.permutations > 0 ? b_rows : 0) + 1) * kk * 8 + k * 8, false});
        break;
      }
      default:  // mutual k-NN and CKNNA: their Grams below, shared with the other float64 measures
        break;
    }
  }
  // The float64 Grams (linalg::DeviceBatchGrams), shared by the five float64 measures and
  // CKA's permutation null: a widened block of up to 2048 features, its column sums, the
  // (k, k) Gram and eigenvectors, the eigenvalues and row hashes, and cuSOLVER's workspace for
  // a k x k eigendecomposition (about 2 k^2 doubles).
  const bool float64_grams =
      std::any_of(settings.measures.begin(), settings.measures.end(),
                  [&](Measure m) { return host_only(m) || (m == Measure::cka && settings.permutations > 0); });
  if (float64_grams) {
    const u64 block = std::min<u64>(widest, 2048);
    e.parts.push_back({"float64 Grams", k * block * 8 + 64 * block * 8 + kk * 8 + 2 * k * 8 + 2 * kk * 8, false});
  }
  return e;
}

void check_device_memory(const std::vector<int64_t>& widths_a, const std::vector<int64_t>& widths_b, int64_t batch,
                         const CompareSettings& settings, uint64_t available, const std::string& device_name) {
  const DeviceMemoryEstimate e = estimate_device_memory(widths_a, widths_b, batch, settings);
  const u64 needed = e.to_allocate();
  if (needed <= available) return;
  // A smaller batch also holds fewer features: what the current batch's features occupy is
  // available to it.
  const u64 room = available + (e.total() - needed);
  const auto fits = [&](int64_t k) { return estimate_device_memory(widths_a, widths_b, k, settings).total() <= room; };
  const int64_t smallest = analysis_detail::smallest_batch(settings);
  int64_t low = smallest, high = batch - 1;  // the largest batch that fits lies in [low - 1, high]
  if (low > high || !fits(low)) {
    CONVLAB_FAIL("the analysis needs about {} more GPU memory per batch of {} examples ({}), but {} has {} free, and "
                 "even batches of {} do not fit: compare fewer or narrower layers, or run it on the CPU "
                 "(--device cpu)",
                 memory_text(needed), batch, e.describe(), device_name, memory_text(available), smallest);
  }
  while (low < high) {
    const int64_t mid = low + (high - low + 1) / 2;
    if (fits(mid))
      low = mid;
    else
      high = mid - 1;
  }
  CONVLAB_FAIL("the analysis needs about {} more GPU memory per batch of {} examples ({}), but {} has {} free: lower "
               "--batch-size to {} or less",
               memory_text(needed), batch, e.describe(), device_name, memory_text(available), low);
}

}  // namespace convlab
