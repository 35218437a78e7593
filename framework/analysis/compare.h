// Layer-by-layer similarity between two feature sources (or one against itself), streamed
// batch by batch: CKA under one or several kernels, RSA, the orthogonal Procrustes distance,
// mutual k-NN, CKNNA, SVCCA, PWCCA and linear predictivity (docs/measures.md), all from one
// extraction of the features. Each measure is a minibatch estimate,
// the mean over batches of per-batch terms weighted by batch size (stats::BatchTerms), with an
// optional bootstrap over batches (stats/bootstrap.h). Features that a model leaves on a GPU
// (both sources on the same device) stay there and go to the CUDA twins, whose Gram products
// run in CompareSettings::precision (by default TF32 for CKA, fp32 for RSA and Procrustes);
// all others go to the CPU.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "framework/analysis/feature_source.h"
#include "framework/cka/options.h"
#include "framework/stats/bootstrap.h"
#include "framework/stats/permutation_test.h"

namespace convlab {

enum class Measure { cka, rsa, procrustes, mutual_knn, cknna, svcca, pwcca, ridge };
// "cka", "rsa", "procrustes", "mutual_knn", "cknna", "svcca", "pwcca", "ridge".
const char* measure_name(Measure measure);
// The measure of that name; none for an unknown one.
std::optional<Measure> measure_named(const std::string& name);
// Every measure's name, comma-separated, for messages.
std::string measure_names();
// Whether m(A, B) may differ from m(B, A): PWCCA, linear predictivity and (by a few
// thousandths at most on typical layers) CKNNA. Their matrices of a network against itself are computed in both orders.
bool asymmetric(Measure measure);
// What the measures of the nearest-neighbour, CCA and ridge families are computed in: float64
// on the CPU; the CUDA twins are to come, so features on a GPU are copied to the host batch
// by batch for them (MatrixLabels::precision says so).
bool host_only(Measure measure);

// What to do with a last batch smaller than the batch size (n not a multiple of k).
enum class LastBatch {
  weight,  // keep it; every batch's terms count in proportion to its examples
  drop,    // leave it out (unless it is the only batch)
};
const char* last_batch_name(LastBatch policy);

// The batch sizes a measure needs; the effective batch of an analysis is the smaller of
// CompareSettings::batch_size and the examples used. Below `minimum` the measure is
// degenerate and compare_layers refuses it; below `advised` it runs, with one warning per
// analysis on stderr. CKA's depend on the estimator, not on the kernel.
//
// From measurement (tests/test_analysis.cpp, BatchSizeMeasurement; README, "Minibatch
// estimators"): two independent Gaussian layers (unrelated) and x against max(0, x + noise)
// (related), 16 to 4096 features each, 10,000 examples, batches of 2 to 1000. `advised` is the
// smallest batch from which every one of those values lies within 0.05 (Procrustes, whose
// values span [0, 2]: 0.1) of its value in batches of 1000.
struct BatchLimits {
  int64_t minimum = 1;
  int64_t advised = 1;
  int64_t maximum = INT64_MAX;  // Procrustes: procrustes::kMaxExamples (its eigendecompositions)
};
BatchLimits batch_limits(Measure measure, cka::Estimator estimator);
struct CompareSettings;
// The same for every setting (mutual k-NN and CKNNA need more examples than neighbours).
BatchLimits batch_limits(Measure measure, const CompareSettings& settings);

struct CompareSettings {
  std::vector<Measure> measures{Measure::cka};
  std::vector<cka::Kernel> kernels{cka::Kernel::linear()};  // CKA's; the linear Gram is shared
  cka::Estimator estimator = cka::Estimator::debiased;      // CKA's HSIC estimator
  int64_t batch_size = 1000;
  int64_t examples = 0;  // the first `examples` examples; 0: all
  LastBatch last_batch = LastBatch::weight;
  int64_t bootstrap = 0;  // replicates; 0: none
  uint64_t seed = 0;      // of the bootstrap's draws and of the permutations
  // A permutation test of every cell (stats/permutation_test.h): this many permutations of
  // B's examples within each batch; 0: none.
  int64_t permutations = 0;
  // The Gram products of features on a GPU. Unset: each measure's default (default_precision).
  std::optional<cka::GramPrecision> precision;
  // Mutual k-NN and CKNNA: the neighbours of each example within its batch (--knn).
  int64_t knn = 10;
  // SVCCA and PWCCA: the share of variance the reduction keeps (--svcca-variance), or a fixed
  // number of directions when svcca_dims > 0 (--svcca-dims).
  double svcca_variance = 0.99;
  int64_t svcca_dims = 0;
  // Linear predictivity: the ridge penalty as a multiple of the source Gram's mean eigenvalue
  // (--ridge).
  double ridge = 0.1;
};

// The settings a measure's values depend on beyond the batch, for summary.json: {"knn": 10},
// {"svcca_variance": 0.99}, {"ridge": 0.1}; empty for CKA, RSA and Procrustes.
std::vector<std::pair<std::string, double>> measure_parameters(Measure measure, const CompareSettings& settings);

// TF32 for CKA, whose error it keeps within the documented 1e-4 of float64; fp32 for RSA and
// Procrustes, which TF32's rounding can move by more (docs/RESULTS.md, TF32 and the measures).
cka::GramPrecision default_precision(Measure measure);
// What a measure of `settings` computes its Gram products in on a GPU.
cka::GramPrecision precision_for(Measure measure, const CompareSettings& settings);

struct SimilarityMatrix {
  Measure measure = Measure::cka;
  cka::Options options;  // CKA: the kernel and estimator
  int64_t rows = 0, cols = 0;
  std::vector<double> values;  // (rows, cols) row-major: rows are A's layers, columns B's
  std::vector<std::string> row_names, col_names;
  std::string row_source, col_source;
  int64_t examples = 0, batches = 0, batch_size = 0;
  LastBatch last_batch = LastBatch::weight;
  double seconds = 0;
  std::optional<stats::BootstrapSummary> bootstrap;
  std::optional<stats::PermutationSummary> permutation;
  // Procrustes: the form each layer took ("features" or "gram"), A's then B's.
  std::vector<std::string> forms;
  // Where and how the Gram products ran: "cuda tf32", "cuda fp32", or "cpu fp32" ("cpu fp64"
  // for float64 features and for the measures computed in float64 throughout).
  std::string precision;
  // measure_parameters of the measure: k, the variance kept, the penalty.
  std::vector<std::pair<std::string, double>> parameters;
  // SVCCA and PWCCA: the directions each layer kept in the first batch, A's then B's.
  std::vector<int64_t> kept_dims;
  double at(int64_t i, int64_t j) const { return values[static_cast<size_t>(i * cols + j)]; }
};
using CkaMatrix = SimilarityMatrix;

// `b` null: `a` against itself. The matrices come in the order of settings.measures, CKA as
// one matrix per kernel. Throws, naming --batch-size, when the effective batch is below a
// measure's BatchLimits::minimum. A last batch smaller than that minimum is dropped in any
// case; CkaMatrix::examples counts the examples used.
//
// Each layer's features are multiplied by one power of two, fixed at the first batch in which
// the layer is not all zero, that brings its largest magnitude into [0.5, 1): every measure is
// invariant to scaling a layer (CKA's HSIC terms of a layer all scale alike, so one factor
// for all batches keeps their ratios), a power of two is exact, and so the values are those of
// the features as given, while the Grams and everything formed from them stay within float64's
// range for features anywhere from 1e-310 to 1e300. A layer whose factor lies within 2^+-64 is
// left as it is: there the products stay far inside float64's range, so the factor would
// change no value, and skipping it saves a pass over the features. An error while measuring a
// batch names both sources and the batch's examples.
std::vector<SimilarityMatrix> compare_layers(FeatureSource& a, FeatureSource* b, const CompareSettings& settings);

// Each of `sources` against `reference` (the checkpoints of a run against its final network):
// one pass over the examples in which the reference's features are extracted once per batch,
// not once per source. Result [s] is what compare_layers(*sources[s], &reference) returns.
// The warnings about the settings themselves (small batches, too few permutations) are printed
// once, for the first source, and not at all with `warn` false (a caller that makes several
// calls with the same settings: identify).
std::vector<std::vector<SimilarityMatrix>> compare_against(const std::vector<FeatureSource*>& sources,
                                                           FeatureSource& reference,
                                                           const CompareSettings& settings, bool warn = true);

// CKA alone, one matrix per options (all with the same estimator).
std::vector<SimilarityMatrix> compare_layers(FeatureSource& a, FeatureSource* b,
                                             const std::vector<cka::Options>& settings, int64_t batch_size,
                                             int64_t examples = 0);

}  // namespace convlab
