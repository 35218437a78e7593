// Confidence intervals for a minibatch estimate by resampling its batches: each replicate
// draws as many batches as there were, uniformly with replacement (a block bootstrap whose
// blocks are the batches of k consecutive examples), recomputes the estimate from the
// re-weighted per-batch terms (BatchTerms::weighted_mean(copies)) and so costs nothing but
// the last step of the estimator. Draws are Philox streams of (seed, replicate), so the same
// seed gives the same intervals on any machine.
//
// Why batches and not examples: the per-batch terms are all that is kept (no Gram of all n
// examples ever exists), and the debiased HSIC is an unbiased U-statistic only over distinct
// examples, which an example-level resample with repeats would break. The intervals describe
// the spread of the estimate over batches of this size; they need at least 2 batches and are
// coarse below about 10.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "framework/stats/batch_terms.h"

namespace convlab::stats {

// Per cell of an estimate: over the replicates, the mean, the standard deviation (n - 1 in the
// denominator) and the 2.5 % and 97.5 % quantiles (linear interpolation between order
// statistics, as numpy.quantile's default). Replicates whose value is NaN (an undefined
// cell) are left out; a cell with no finite replicate is NaN throughout.
struct BootstrapSummary {
  int64_t replicates = 0;
  uint64_t seed = 0;
  std::vector<double> mean, std, q025, q975;  // one per cell
};

// The estimate from mean per-batch terms: the identity for RSA and Procrustes, the CKA ratio
// of mean HSIC terms for CKA.
using Statistic = std::function<std::vector<double>(const std::vector<double>& mean_terms)>;

// Throws for fewer than 2 batches or fewer than 2 replicates.
BootstrapSummary bootstrap_batches(const BatchTerms& terms, const Statistic& statistic, int64_t replicates,
                                   uint64_t seed);

// The q-quantile (0 <= q <= 1) of values, by numpy's default linear interpolation. Sorts
// values. Needs at least one value.
double quantile(std::vector<double>& values, double q);

}  // namespace convlab::stats
