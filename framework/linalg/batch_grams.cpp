#include "framework/linalg/batch_grams.h"

namespace convlab::linalg {

void BatchGrams::start(int64_t batch) {
  if (batch == batch_) return;
  batch_ = batch;
  grams_.clear();
  spectra_.clear();
}

BatchGrams::Key BatchGrams::key(const cka::FeatureView& x, int centring) {
  const void* data = x.is_f32() ? static_cast<const void*>(x.f32()) : static_cast<const void*>(x.f64());
  return {data, x.rows(), x.cols(), centring};
}

const std::vector<double>& BatchGrams::gram(const cka::FeatureView& x, Centring centring, int* exponent) {
  const Key k = key(x, static_cast<int>(centring));
  auto it = grams_.find(k);
  if (it == grams_.end()) {
    int e = 0;
    std::vector<double> g = gram_f64(x, centring, &e);
    ++formed_;
    it = grams_.emplace(k, std::make_pair(std::move(g), e)).first;
  }
  if (exponent) *exponent = it->second.second;
  return it->second.first;
}

const CentredSpectrum& BatchGrams::spectrum(const cka::FeatureView& x) {
  const Key k = key(x, static_cast<int>(Centring::columns));
  auto it = spectra_.find(k);
  if (it == spectra_.end()) it = spectra_.emplace(k, centred_spectrum_of_gram(gram(x, Centring::columns), x.rows())).first;
  return it->second;
}

}  // namespace convlab::linalg
