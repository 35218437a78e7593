#include "framework/linalg/layer_grams.h"

#include "framework/core/error.h"
#include "framework/linalg/symmetric_eigen.h"

namespace convlab::linalg {

const CentredSpectrum& HostLayerGrams::spectrum() {
  CONVLAB_CHECK(symmetric_eigen_fits(x_.rows()), "{}: an eigendecomposition of {} examples is beyond LAPACK's sizes: "
                "use a smaller --batch-size", x_.label(), x_.rows());
  return grams_.spectrum(x_);
}

}  // namespace convlab::linalg
