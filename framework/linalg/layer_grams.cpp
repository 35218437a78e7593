#include "framework/linalg/layer_grams.h"

#include "framework/core/error.h"
#include "framework/linalg/symmetric_eigen.h"

namespace convlab::linalg {

const CentredSpectrum& HostLayerGrams::spectrum() {
  CONVLAB_CHECK(symmetric_eigen_fits(x_.rows()), "{}: an eigendecomposition of {} examples is beyond LAPACK's sizes: "
                "use a smaller --batch-size", x_.label(), x_.rows());
  return grams_.spectrum(x_);
}

HostLayers::HostLayers(const std::vector<const cka::FeatureView*>& views, size_t first_of_b, BatchGrams& grams,
                       BatchGrams* grams_b) {
  layers_.reserve(views.size());  // the rows point into it
  for (size_t r = 0; r < views.size(); ++r)
    layers_.emplace_back(*views[r], r >= first_of_b && grams_b ? *grams_b : grams);
  for (HostLayerGrams& l : layers_) rows_.push_back(&l);
}

}  // namespace convlab::linalg
