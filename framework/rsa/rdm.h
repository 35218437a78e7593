// Representational dissimilarity matrices (Kriegeskorte et al. 2008) and their ranks.
//
// The RDM of a layer over k examples is D_ij = 1 - Pearson correlation of the feature vectors
// of examples i and j (k x k, zero diagonal). Two layers are compared by the Spearman
// correlation of their RDMs' upper triangles: the Pearson correlation of the triangles'
// ranks. A layer is therefore reduced to one vector per batch, the centred ranks of its
// k (k - 1) / 2 distances, and the Spearman correlation of two layers is the normalised inner
// product of their vectors.
#pragma once

#include <cstdint>
#include <vector>

#include "framework/cka/features.h"

namespace convlab::rsa {

// The upper triangle (kernels::upper_pair_index order) of the RDM whose row-centred Gram is
// gram (k, k) f64, into out (k (k - 1) / 2). Returns how many examples had constant features
// (their distances are 1: see kernels::correlation_distance).
int64_t rdm_upper(const double* gram, int64_t k, double* out);

// Average ranks (1-based; tied values share the mean of their ranks) of m values, minus the
// mean rank, into centred (m). All values equal gives all zeros.
void centred_ranks(const double* values, int64_t m, double* centred);

// One layer's batch as RSA uses it: centred ranks (k (k - 1) / 2) of its RDM's upper triangle,
// from its features (k, p). The workspace holds the row-centred features and the Gram between
// calls. Returns the number of constant examples.
struct RankWorkspace {
  cka::CentredFeatures centred;
  std::vector<double> gram;       // (k, k)
  std::vector<double> distances;  // (k (k - 1) / 2)
};
int64_t rdm_ranks(const cka::FeatureView& x, double* out, RankWorkspace& workspace);

}  // namespace convlab::rsa
