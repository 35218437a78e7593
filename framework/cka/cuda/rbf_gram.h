// The RBF Gram from the linear one on the device, in two steps: once per layer and batch, the
// median of the squared distances D_ij = K_ii + K_jj - 2 K_ij over the pairs i < j (and their
// spread, for cka::rbf_fit), by a radix select; then per RBF kernel (width) one pass that
// writes K_ij = exp(-D_ij / (2 s^2)), s^2 = frac^2 * median, from the linear Gram. Nothing
// waits on the host; no distance is stored.
// CPU twin: distance_spread and rbf_from_linear_gram (framework/cka/gram.cpp); both take the
// per-element math from kernels/gram.h, so the median and spread are the CPU's bit for bit.
//
// The select: each distance's f64 bits as an order-preserving u64 key, 11 bits at a time from
// the top (6 passes); each pass reads the upper triangle once (k^2 / 2 doubles), histograms
// the next digit of the keys that match the digits chosen so far (per-block shared-memory
// histograms, integer atomics into one global histogram of 2048 bins), and a one-block kernel
// picks the digit that holds the target rank. That gives the upper middle value (rank m / 2
// of m = k (k - 1) / 2); for an even m one more pass finds the largest key below it (the lower
// middle value, when it differs). The first pass also takes the smallest nonzero and the
// largest distance (integer min/max atomics on the keys). Everything is exact, so the result
// does not depend on the order of the atomics.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace convlab::cka_cuda {

// What distance_stats writes: kDistanceStats doubles, in this order.
inline constexpr int kDistanceStats = 3;  // median, smallest nonzero (0 when none), largest

// Device scratch for distance_stats and rbf_from_linear_gram with n examples: the diagonal
// (8 n bytes), the select's state and its 2048-bin histogram (8.25 KiB). A multiple of 256.
size_t rbf_workspace_bytes(int64_t n);

// Queues on `stream`: stats (device, kDistanceStats doubles) = the median, smallest nonzero and
// largest of the squared distances over the pairs i < j of the linear Gram gram (n, n) f64
// (its upper triangle and diagonal are read), as cka::distance_spread computes them. Needs
// 2 <= n <= kMaxGramSide. A NaN in the Gram gives some values, in the same bounded time (the
// caller discards them: its non-finite flag is set).
void distance_stats(const double* gram, int64_t n, void* workspace, size_t workspace_bytes, double* stats,
                    cudaStream_t stream);

// Queues on `stream`: out (n, n) = the RBF Gram of the linear Gram gram (n, n) (not changed),
// s^2 = kernels::rbf_width_sq(frac, stats[0]) with stats from distance_stats of the same
// Gram. spread (3 device doubles, may be null) receives the smallest nonzero and the largest
// squared distance and s^2, for the caller to judge the width by (cka::rbf_fit, rbf_width.h)
// as the CPU does. Needs frac > 0. One read and one write of n^2 doubles.
void rbf_from_linear_gram(const double* gram, int64_t n, double frac, const double* stats, double* out,
                          double* spread, void* workspace, size_t workspace_bytes, cudaStream_t stream);

}  // namespace convlab::cka_cuda
