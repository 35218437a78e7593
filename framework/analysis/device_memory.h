// How much GPU memory one batch of an analysis needs, estimated from the layers' widths before
// the measures allocate anything, so that an analysis that cannot fit is refused with a clear
// message (naming --batch-size and a batch that fits) instead of stopping on an allocation
// failure partway, after minutes of work. Host code: the estimate and its message are tested
// on the CPU; the GPU's free memory comes from free_device_memory (backend/cuda_device.h).
//
// The parts, for a batch of k examples and R = the layers compared (A's, and B's in a pair):
//   features:    the batch's features, k * sum(p) f32 (held already when the check runs);
//   Gram:        each measure's Gram step (cka::DeviceGram): (k, k) f64 and f32, a block of up
//                to 2048 columns and the column statistics;
//   CKA Grams:   G (R, k^2) f64 per kernel, and one layer's linear Gram;
//   RBF:         the median selection's histograms, per layer (small);
//   RSA:         the RDM's k(k-1)/2 distances, their ranks in Z (R, m) f64, and the sort's
//                keys, indices and scratch;
//   Procrustes:  a factor (k, min(p, k)) f64 per layer, the pair products and the cuSOLVER
//                workspace of a k x k eigendecomposition;
//   float64 Grams: for mutual k-NN, CKNNA, SVCCA, PWCCA, ridge and CKA's permutation null,
//                once for all: a widened (k, 2048) f64 block, the (k, k) f64 Gram and the
//                cuSOLVER workspace of a k x k eigendecomposition;
//   pair products: SVCCA's and PWCCA's kept bases (k, min(p, k)) f64 per layer, ridge's (k, k)
//                residual operators and targets, B's permuted copies for a permutation test.
// Each is an upper bound within a few percent of what the CUDA code allocates (the sort's and
// cuSOLVER's own scratch are estimated from their documented sizes).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/analysis/compare.h"

namespace convlab {

struct DeviceMemoryEstimate {
  struct Part {
    std::string what;
    uint64_t bytes = 0;
    bool held = false;  // allocated before the check (the batch's features)
  };
  int64_t batch = 0;
  std::vector<Part> parts;
  uint64_t total() const;
  uint64_t to_allocate() const;  // the parts not held yet
  std::string describe() const;  // "CKA Grams 1.6 GB, RSA 2.1 GB, ..."
};

// widths_b empty: A against itself.
DeviceMemoryEstimate estimate_device_memory(const std::vector<int64_t>& widths_a, const std::vector<int64_t>& widths_b,
                                            int64_t batch, const CompareSettings& settings);

// Throws when the parts still to allocate exceed `available` bytes on `device_name`: the
// message gives the estimate by part and the largest batch size that fits (or, when none
// does, that the layers themselves are too large).
void check_device_memory(const std::vector<int64_t>& widths_a, const std::vector<int64_t>& widths_b, int64_t batch,
                         const CompareSettings& settings, uint64_t available, const std::string& device_name);

// "1.6 GB", "512 MB", "3.0 kB"
std::string memory_text(uint64_t bytes);

}  // namespace convlab
