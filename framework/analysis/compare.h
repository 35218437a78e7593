// Layer-by-layer CKA between two feature sources (or one against itself), streamed batch by
// batch through the minibatch accumulator, for one or several kernel/estimator settings at
// once so that features are extracted only once. Features that a model leaves on a GPU (both
// sources on the same device) stay there and go to the CUDA accumulator, whose Gram products
// use TF32 unless the device's CudaContext::allow_tf32 is off; all others go to the CPU one.
#pragma once

#include <string>
#include <vector>

#include "framework/analysis/feature_source.h"
#include "framework/cka/options.h"

namespace convlab {

struct CkaMatrix {
  int64_t rows = 0, cols = 0;
  std::vector<double> values;  // (rows, cols) row-major: rows are A's layers, columns B's
  std::vector<std::string> row_names, col_names;
  std::string row_source, col_source;
  cka::Options options;
  int64_t examples = 0, batch_size = 0;
  double seconds = 0;
  double at(int64_t i, int64_t j) const { return values[static_cast<size_t>(i * cols + j)]; }
};

// `b` null: `a` against itself. Uses the first `examples` examples (all when 0) in batches
// of `batch_size`; the debiased estimator needs batches of at least 4 (a last batch smaller
// than that is dropped, with the count reported in CkaMatrix::examples).
std::vector<CkaMatrix> compare_layers(FeatureSource& a, FeatureSource* b, const std::vector<cka::Options>& settings,
                                      int64_t batch_size, int64_t examples = 0);

}  // namespace convlab
