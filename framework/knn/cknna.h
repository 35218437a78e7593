// CKNNA, centred kernel nearest-neighbour alignment (Huh et al. 2024): CKA restricted to the
// pairs of examples that are neighbours in both representations. With K and L the
// cosine-similarity kernels of the two layers (neighbours.h) and the mask
// alpha_ij = 1[i != j, j in N_A(i) and j in N_B(i)],
//   Align(K, L) = HSIC_1(alpha o K, alpha o L),
// the debiased HSIC estimator (Song et al. 2012) of the masked kernels, and
//   CKNNA = Align(K, L) / sqrt(Align_A(K, K) Align_B(L, L)),
// where Align_A masks K with A's own neighbours only (alpha_ij = 1[j in N_A(i)]). This is the
// authors' published code (platonic-rep, metrics.py: cknna with unbiased=True); docs/measures.md
// says where it differs from the paper's appendix and from that code (no +1e-6 in the
// denominator: a self term that is not positive gives NaN). The masks are not symmetric
// (j in N(i) does not imply i in N(j)), so neither is Align in general: CKNNA(A, B) differs
// from CKNNA(B, A) (by 1e-4 to 3e-3 on typical layers), and both orders are computed.
//
// Minibatch estimator: as CKA's (Nguyen et al.): every Align term is averaged over batches,
// weighted by batch size, then the ratio is taken. The batch size is part of the definition,
// as for mutual k-NN. Per pair: n k log k.
#pragma once

#include <cstdint>
#include <vector>

#include "framework/knn/neighbours.h"
#include "framework/knn/neighbour_accumulator.h"

namespace convlab::knn {

// Align(K, L) of two layers' neighbours (of the same n >= 4 examples, the same k): the
// debiased HSIC of the kernels masked to the neighbours both share. Align(a, a) is a's own.
double cknna_alignment(const Neighbours& a, const Neighbours& b);

// Full batch: CKNNA of two layers' features over the same n > k examples (n >= 4).
double cknna(const cka::FeatureView& x, const cka::FeatureView& y, int64_t k);

class CknnaAccumulator final : public NeighbourAccumulator {
 public:
  CknnaAccumulator(int64_t layers_a, int64_t layers_b, int64_t k);
  // Mean terms: (L, M) Align(K, L), then one Align of each row with itself (A's, then B's).
  std::vector<double> value(const std::vector<double>& mean_terms) const override;

 private:
  double score(const Neighbours& a, const Neighbours& b) const override { return cknna_alignment(a, b); }
  void extra_terms(double* out) const override;
};

}  // namespace convlab::knn
