// The CUDA twin of linalg::BatchGrams: the float64 Grams, centred spectra and exact copies of
// one batch's layers, computed where the features lie (a GPU), for the float64 measures
// (mutual k-NN, CKNNA, SVCCA, PWCCA, linear predictivity) and CKA's permutation null, which
// then read them through DeviceLayerGrams as they read a CPU layer's (linalg::LayerGrams).
// Each is computed once per layer and batch for all the measures of a comparison.
//
// Per layer of k examples and p features (CPU twin in brackets):
//   Gram        [gram_f64]: the largest magnitude (its power of two, and a NaN or infinity
//               check), then per block of kBlockColumns features one widening to f64, scaled
//               and (Centring::columns) centred per column (gram_f64_kernels.h), and cuBLAS
//               DSYRK into the (k, k) f64 Gram: k^2 p FP64 multiply-adds, float64 throughout
//               as on the CPU. Copied to the host: (k, k) doubles.
//   spectrum    [centred_spectrum_of_gram]: the centred Gram (the host's copy, uploaded
//               again: the device keeps no Gram between calls) divided by its trace, and
//               cuSOLVER's Xsyevd with vectors (about 9 k^3 flops); the k values and the
//               (k, k) vectors are copied to the host.
//   copies      [first_copies]: a 64-bit hash of each example's feature bits, copied to the
//               host (k values); examples of equal hash are compared bit for bit there (their
//               two rows copied), so a hash collision never ties two different examples.
// The pair terms of the measures, O(k^2) to O(k^3) per pair from these (k, k) results, run on
// the host in float64, the same code as for CPU features: MeasureRun::precision says so.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "framework/cka/cuda/device_features.h"
#include "framework/core/tensor.h"
#include "framework/linalg/centred_spectrum.h"
#include "framework/linalg/gram_f64.h"
#include "framework/linalg/layer_grams.h"

namespace convlab {
class CudaContext;
}

namespace convlab::linalg {

class DeviceBatchGrams {
 public:
  static constexpr int64_t kBlockColumns = 2048;  // features widened per DSYRK: (k, 2048) doubles

  // Runs on the context's stream with its cuBLAS and cuSOLVER handles; the context must
  // outlive this object.
  explicit DeviceBatchGrams(CudaContext& context);

  // Forgets every result unless batch is the one held (as BatchGrams::start).
  void start(int64_t batch);
  // As BatchGrams::gram and ::spectrum, and linalg::first_copies, for features on this GPU.
  // Throw, naming the layer, for NaN or infinite features, or more examples than the device
  // Gram takes (cka_cuda::kMaxGramSide) or cuSOLVER decomposes.
  const std::vector<double>& gram(const cka::DeviceFeatureView& x, Centring centring, int* exponent = nullptr);
  const CentredSpectrum& spectrum(const cka::DeviceFeatureView& x);
  const std::vector<int64_t>& first_copies(const cka::DeviceFeatureView& x);
  // Frees the device buffers (the next call makes them again).
  void release_workspace();

 private:
  using Key = std::tuple<const void*, int64_t, int64_t, int>;  // data, rows, cols, centring (-1: copies)
  static Key key(const cka::DeviceFeatureView& x, int centring);
  // The exponent e of gram_f64: x's largest magnitude is m 2^e, 0.5 <= m < 1 (0 for zeros).
  int scale_exponent(const cka::DeviceFeatureView& x);
  [[noreturn]] void fail_nonfinite(const cka::DeviceFeatureView& x);

  CudaContext& context_;
  int64_t batch_ = -1;
  std::map<Key, std::pair<std::vector<double>, int>> grams_;  // the Gram and its exponent
  std::map<Key, CentredSpectrum> spectra_;
  std::map<Key, std::vector<int64_t>> copies_;
  Tensor block_;       // (k, kBlockColumns) f64: one widened block of features
  Tensor partial_;     // (kMeanSlices, kBlockColumns) f64: the column means' partial sums
  Tensor square_;      // (k, k) f64: a Gram, then eigenvectors
  Tensor values_;      // (k) f64 eigenvalues
  Tensor info_;        // (1) i32: cuSOLVER's info
  Tensor hashes_;      // (k) u64 row hashes, in f64 storage (the same 8 bytes)
  Tensor bits_;        // (1) i32 holding the u32 bits of the largest magnitude
  Tensor work_;        // u8: cuSOLVER's device workspace
  std::vector<char> host_work_;  // cuSOLVER's host workspace
};

// A layer on a GPU as the float64 measures read it, through a DeviceBatchGrams shared by the
// measures of a comparison (which must outlive this, and be started on this batch).
class DeviceLayerGrams final : public LayerGrams {
 public:
  DeviceLayerGrams(const cka::DeviceFeatureView& x, DeviceBatchGrams& grams) : x_(x), grams_(grams) {}
  int64_t rows() const override { return x_.rows(); }
  const std::string& name() const override { return x_.name(); }
  const std::vector<double>& gram(Centring centring, int* exponent = nullptr) override {
    return grams_.gram(x_, centring, exponent);
  }
  const CentredSpectrum& spectrum() override { return grams_.spectrum(x_); }
  std::vector<int64_t> first_copies() override { return grams_.first_copies(x_); }

 private:
  const cka::DeviceFeatureView& x_;
  DeviceBatchGrams& grams_;
};

}  // namespace convlab::linalg
