// Which examples of a batch are exact copies of others (the same bytes of features): the
// nearest-neighbour measures tie them exactly (knn::tie_copies), since BLAS rounds the Gram
// entries of two equal rows differently and would otherwise let rounding choose between them.
#pragma once

#include <cstdint>
#include <vector>

#include "framework/cka/features.h"

namespace convlab::linalg {

// (n): for each example, the first example whose features are the same bytes (itself when
// none is). O(n p): one hash of each row.
std::vector<int64_t> first_copies(const cka::FeatureView& x);

}  // namespace convlab::linalg
