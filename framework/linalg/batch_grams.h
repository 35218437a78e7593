// The float64 Grams and centred spectra of one batch's layers, shared by the measures of one
// comparison: mutual k-NN and CKNNA read the same raw Gram of a layer, SVCCA, PWCCA and ridge
// the same centred spectrum, and each is the costly part (n^2 p products, an n^3
// eigendecomposition). Keyed by the features' address and shape within a batch; start(b)
// forgets everything when batch b is not the one held, since the next batch's features may
// lie at the same addresses. Every measure of a comparison sees batch b before any sees b + 1.
#pragma once

#include <cstdint>
#include <map>
#include <tuple>
#include <vector>

#include "framework/cka/features.h"
#include "framework/linalg/centred_spectrum.h"
#include "framework/linalg/gram_f64.h"

namespace convlab::linalg {

class BatchGrams {
 public:
  void start(int64_t batch);
  // gram_f64 of x; `exponent` as gram_f64's.
  const std::vector<double>& gram(const cka::FeatureView& x, Centring centring, int* exponent = nullptr);
  const CentredSpectrum& spectrum(const cka::FeatureView& x);
  // How many Grams this has formed (each costs n^2 p): what sharing it saves.
  int64_t grams_formed() const { return formed_; }

 private:
  using Key = std::tuple<const void*, int64_t, int64_t, int>;  // data, rows, cols, centring
  static Key key(const cka::FeatureView& x, int centring);

  int64_t batch_ = -1;
  int64_t formed_ = 0;
  std::map<Key, std::pair<std::vector<double>, int>> grams_;  // the Gram and gram_f64's exponent
  std::map<Key, CentredSpectrum> spectra_;
};

}  // namespace convlab::linalg
