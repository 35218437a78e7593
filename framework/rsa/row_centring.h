// Centring each example's features (a row of n x p) by its own mean over the p features: what
// the Pearson correlation between two examples' feature vectors starts from. The twin of
// cka::centre_columns, with the same f64 sums, exact zeros for constant rows and range
// scaling (cka::CentredFeatures::scale), so that cka::linear_gram turns the result into the
// row-centred Gram.
#pragma once

#include "framework/cka/features.h"

namespace convlab::rsa {

// Throws, naming the layer, on NaN or infinite input.
void centre_rows(const cka::FeatureView& x, cka::CentredFeatures& out);

}  // namespace convlab::rsa
