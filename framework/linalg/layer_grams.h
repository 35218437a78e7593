// One layer's features in one batch as the float64 measures (mutual k-NN, CKNNA, SVCCA, PWCCA,
// linear predictivity, and CKA's permutation null) read them: its float64 Grams, its centred
// spectrum and which examples are exact copies of others. Nothing else of the features is
// read, so the same measure code runs on features held by the CPU (HostLayerGrams, below) or
// by a GPU (linalg::DeviceLayerGrams, cuda/device_layer_grams.h), which computes these there
// and hands the host only (n, n) results.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "framework/cka/features.h"
#include "framework/linalg/batch_grams.h"
#include "framework/linalg/centred_spectrum.h"
#include "framework/linalg/first_copies.h"
#include "framework/linalg/gram_f64.h"

namespace convlab::linalg {

class LayerGrams {
 public:
  virtual ~LayerGrams() = default;
  virtual int64_t rows() const = 0;  // the batch's examples, n
  virtual const std::string& name() const = 0;
  std::string label() const { return cka::layer_label(name()); }
  // gram_f64 of the features: (n, n) row-major, 4^-e times their own Gram; `exponent`
  // receives e. Throws, naming the layer, on NaN or infinite features.
  virtual const std::vector<double>& gram(Centring centring, int* exponent = nullptr) = 0;
  // centred_spectrum of the features. Throws, naming the layer and --batch-size, when n is
  // beyond the eigensolver's sizes.
  virtual const CentredSpectrum& spectrum() = 0;
  // (n): for each example, the first example whose features are the same bytes (itself when
  // none is).
  virtual std::vector<int64_t> first_copies() = 0;
};

// On the CPU, from a FeatureView, through a BatchGrams shared with the other measures of a
// comparison (which must outlive this, and be started on this batch).
class HostLayerGrams final : public LayerGrams {
 public:
  HostLayerGrams(const cka::FeatureView& x, BatchGrams& grams) : x_(x), grams_(grams) {}
  int64_t rows() const override { return x_.rows(); }
  const std::string& name() const override { return x_.name(); }
  const std::vector<double>& gram(Centring centring, int* exponent = nullptr) override {
    return grams_.gram(x_, centring, exponent);
  }
  const CentredSpectrum& spectrum() override;
  std::vector<int64_t> first_copies() override { return linalg::first_copies(x_); }
  const cka::FeatureView& features() const { return x_; }

 private:
  const cka::FeatureView& x_;
  BatchGrams& grams_;
};

// One batch's host layers in the pairs' row order, rows from `first_of_b` on being network B's:
// each read through `grams`, B's through `grams_b` when given (shared with other comparisons
// against the same B). The views and caches must outlive this.
class HostLayers {
 public:
  HostLayers(const std::vector<const cka::FeatureView*>& views, size_t first_of_b, BatchGrams& grams,
             BatchGrams* grams_b);
  const std::vector<LayerGrams*>& rows() const { return rows_; }

 private:
  std::vector<HostLayerGrams> layers_;
  std::vector<LayerGrams*> rows_;
};

}  // namespace convlab::linalg
