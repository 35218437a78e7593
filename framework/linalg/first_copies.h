// Which examples of a batch are exact copies of others (the same bytes of features): the
// nearest-neighbour measures tie them exactly (knn::tie_copies), since BLAS rounds the Gram
// entries of two equal rows differently and would otherwise let rounding choose between them.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "framework/cka/features.h"

namespace convlab::linalg {

// (n): for each example, the first example whose features are the same bytes (itself when
// none is). O(n p): one hash of each row.
std::vector<int64_t> first_copies(const cka::FeatureView& x);

// The same from a hash of each example's features (equal features hash equally) and a test of
// whether two examples' features are the same bytes, which settles every candidate: each
// example against the first examples of the distinct rows seen under its hash, in order. The
// CUDA twin's path (linalg::DeviceBatchGrams), whose hashes come from the GPU.
std::vector<int64_t> first_copies_by_hash(const std::vector<uint64_t>& hashes,
                                          const std::function<bool(int64_t, int64_t)>& same_bytes);

}  // namespace convlab::linalg
