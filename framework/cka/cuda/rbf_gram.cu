#include "framework/cka/cuda/rbf_gram.h"

#include <algorithm>
#include <cmath>

#include "framework/backend/cuda/cuda_check.h"
#include "framework/cka/cuda/launch.h"
#include "kernels/gram.h"

namespace convlab::cka_cuda {
namespace {

using Key = unsigned long long;

// The radix select: 11-bit digits from the top of the 64-bit keys, the last one 9 bits.
constexpr int kDigitBits = 11;
constexpr int kBins = 1 << kDigitBits;
constexpr int kPasses = (64 + kDigitBits - 1) / kDigitBits;  // 6
constexpr int kBinsPerThread = kBins / kThreads;               // the digit kernel's share of the bins
static_assert(kBins % kThreads == 0, "every thread of the digit kernel walks the same number of bins");
static_assert(kThreads % 32 == 0, "the pair loops step whole warps");

constexpr Key kSignBit = 0x8000000000000000ull;
constexpr Key kNoKey = ~0ull;  // no nonzero distance (yet)
// The key of +0.0: below every positive double's.
constexpr Key kZeroKey = kSignBit;

// The state of the select, on the device; only the one-block kernels write the first three.
struct SelectState {
  Key prefix;       // the target's key bits chosen so far (digits not chosen yet are 0)
  Key rank;         // the target's rank among the keys that match prefix on the chosen digits
  Key count_less;   // keys below the chosen digits: at the end, the count of keys below the target
  Key max_below;    // the largest key below the target (the pass for an even count)
  Key min_nonzero;  // the smallest key of a distance > 0; kNoKey when none
  Key max_key;      // the largest key (from kZeroKey: every distance is >= 0)
};

// Regions of the workspace start on 256-byte boundaries.
constexpr size_t kAlign = 256;
size_t aligned(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

struct Layout {
  size_t diagonal = 0, state = 0, histogram = 0, total = 0;
  explicit Layout(int64_t n) {
    diagonal = 0;
    state = aligned(static_cast<size_t>(n) * sizeof(double));
    histogram = state + aligned(sizeof(SelectState));
    total = histogram + aligned(kBins * sizeof(unsigned));
  }
};

// The f64 bits as a u64 that orders as the doubles do (negative: all bits flipped, else the
// sign bit set); from_order_key undoes it.
__device__ __forceinline__ Key order_key(double v) {
  const Key bits = static_cast<Key>(__double_as_longlong(v));
  return (bits & kSignBit) != 0 ? ~bits : bits | kSignBit;
}

__device__ __forceinline__ double from_order_key(Key key) {
  const Key bits = (key & kSignBit) != 0 ? key & ~kSignBit : ~key;
  return __longlong_as_double(static_cast<long long>(bits));
}

// The squared distance of pair q of the n (n - 1) / 2 pairs i < j (n >= 2, q < 2^31), as the
// CPU computes it: kernels::squared_distance(K_ii, K_jj, K_ij) from the upper triangle. The
// pairs are numbered so that consecutive q are consecutive j in one row (coalesced reads) and
// one 32-bit division finds the pair: "folded row" f = q / (n - 1) holds the n - 1 - f pairs of
// row f, then the f pairs of row n - 1 - f (for an odd n, the last folded row f = (n - 1) / 2
// is only the first part).
__device__ __forceinline__ double pair_distance(const double* gram, const double* diagonal, uint32_t n,
                                                uint32_t q) {
  const uint32_t n1 = n - 1;
  const uint32_t f = q / n1, t = q - f * n1, a = n1 - f;
  uint32_t i, j;
  if (t < a) {
    i = f;
    j = f + 1 + t;
  } else {
    i = a;
    j = t + 1;
  }
  return kernels::squared_distance(diagonal[i], diagonal[j], gram[static_cast<int64_t>(i) * n + j]);
}

// Block-wide minimum and maximum of a key (every thread of a one-dimensional block of
// kThreads calls them; the result is returned to thread 0). Exact, so order does not matter.
__device__ Key block_min(Key value, Key* scratch) {
  for (int offset = 16; offset > 0; offset /= 2) value = min(value, __shfl_down_sync(0xffffffffu, value, offset));
  const int lane = static_cast<int>(threadIdx.x) & 31, warp = static_cast<int>(threadIdx.x) >> 5;
  __syncthreads();
  if (lane == 0) scratch[warp] = value;
  __syncthreads();
  if (warp == 0) {
    value = lane < static_cast<int>(blockDim.x >> 5) ? scratch[lane] : kNoKey;
    for (int offset = 16; offset > 0; offset /= 2) value = min(value, __shfl_down_sync(0xffffffffu, value, offset));
  }
  return value;
}

__device__ Key block_max(Key value, Key* scratch) {
  for (int offset = 16; offset > 0; offset /= 2) value = max(value, __shfl_down_sync(0xffffffffu, value, offset));
  const int lane = static_cast<int>(threadIdx.x) & 31, warp = static_cast<int>(threadIdx.x) >> 5;
  __syncthreads();
  if (lane == 0) scratch[warp] = value;
  __syncthreads();
  if (warp == 0) {
    value = lane < static_cast<int>(blockDim.x >> 5) ? scratch[lane] : Key{0};
    for (int offset = 16; offset > 0; offset /= 2) value = max(value, __shfl_down_sync(0xffffffffu, value, offset));
  }
  return value;
}

__global__ void diagonal_kernel(const double* gram, int64_t n, double* diagonal) {
  CKA_FOR_EACH(i, n) diagonal[i] = gram[i * n + i];
}

__global__ void select_init_kernel(SelectState* state, int64_t pairs) {
  state->prefix = 0;
  state->rank = static_cast<Key>(pairs / 2);
  state->count_less = 0;
  state->max_below = 0;
  state->min_nonzero = kNoKey;
  state->max_key = kZeroKey;
}

// One pass of the select: histogram (kBins, zero on entry) += the digit (key >> shift) &
// digit_mask of every key whose bits under known_mask equal state->prefix. The first pass
// (known_mask 0: every key) also takes the smallest nonzero and the largest key.
//
// The loop steps whole warps (base is the same on all 32 lanes and the loop ends on all of
// them together), because __match_any_sync needs every lane: lanes with the same bin add
// their count once, which keeps the shared-memory atomics of the first passes, where most
// keys share a bin (their exponent), from serialising.
__global__ void digit_histogram_kernel(const double* gram, const double* diagonal, uint32_t n, int64_t pairs,
                                       SelectState* state, Key known_mask, int shift, unsigned digit_mask,
                                       bool first_pass, unsigned* histogram) {
  __shared__ unsigned bins[kBins];
  __shared__ Key scratch[32];
  for (int b = static_cast<int>(threadIdx.x); b < kBins; b += static_cast<int>(blockDim.x)) bins[b] = 0;
  __syncthreads();
  const Key prefix = state->prefix;
  const unsigned lane = threadIdx.x & 31u;
  Key least = kNoKey, most = kZeroKey;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t base = static_cast<int64_t>(blockIdx.x) * blockDim.x + (threadIdx.x - lane); base < pairs;
       base += stride) {
    const int64_t q = base + lane;
    const bool valid = q < pairs;
    const double d = valid ? pair_distance(gram, diagonal, n, static_cast<uint32_t>(q)) : 0.0;
    const Key key = order_key(d);
    const int bin = valid && (key & known_mask) == prefix ? static_cast<int>((key >> shift) & digit_mask) : -1;
    const unsigned peers = __match_any_sync(0xffffffffu, bin);
    if (bin >= 0 && lane == static_cast<unsigned>(__ffs(static_cast<int>(peers)) - 1))
      atomicAdd(&bins[bin], static_cast<unsigned>(__popc(peers)));
    if (first_pass && valid) {
      most = max(most, key);
      if (d > 0.0) least = min(least, key);
    }
  }
  __syncthreads();
  for (int b = static_cast<int>(threadIdx.x); b < kBins; b += static_cast<int>(blockDim.x))
    if (bins[b] != 0) atomicAdd(&histogram[b], bins[b]);
  if (first_pass) {  // the same on every thread: the block reductions' barriers are safe
    least = block_min(least, scratch);
    most = block_max(most, scratch);
    if (threadIdx.x == 0) {
      if (least != kNoKey) atomicMin(&state->min_nonzero, least);
      atomicMax(&state->max_key, most);
    }
  }
}

// One block of kThreads: the digit whose bin holds state->rank (the bins' counts in order),
// appended to state->prefix; the rank becomes the rank within that bin, and the keys of the
// bins below it count as less. Then the histogram is cleared for the next pass. Counts sum to
// at most 2^31 (the pairs), so the u64 sums are exact.
__global__ void select_digit_kernel(unsigned* histogram, SelectState* state, int shift) {
  __shared__ Key sums[kThreads];
  const int t = static_cast<int>(threadIdx.x);
  const Key rank = state->rank;  // read by every thread before the owner below writes it
  unsigned counts[kBinsPerThread];
  Key mine = 0;
  for (int c = 0; c < kBinsPerThread; ++c) {
    counts[c] = histogram[t * kBinsPerThread + c];
    mine += counts[c];
  }
  sums[t] = mine;
  __syncthreads();
  for (int offset = 1; offset < kThreads; offset *= 2) {  // inclusive scan of the threads' sums
    const Key add = t >= offset ? sums[t - offset] : Key{0};
    __syncthreads();
    sums[t] += add;
    __syncthreads();
  }
  const Key before = sums[t] - mine;  // keys in the bins of the threads before this one
  if (before <= rank && rank < before + mine) {  // exactly one thread, when rank < the total
    Key below = before;
    for (int c = 0; c < kBinsPerThread; ++c) {
      if (rank < below + counts[c]) {
        state->prefix |= static_cast<Key>(t * kBinsPerThread + c) << shift;
        state->rank = rank - below;
        state->count_less += below;
        break;
      }
      below += counts[c];
    }
  }
  for (int c = 0; c < kBinsPerThread; ++c) histogram[t * kBinsPerThread + c] = 0;
}

// An even count: the largest key below the selected (upper middle) one, needed only when
// exactly count / 2 keys lie below it (else the lower middle value equals the upper one).
__global__ void below_kernel(const double* gram, const double* diagonal, uint32_t n, int64_t pairs,
                             SelectState* state) {
  __shared__ Key scratch[32];
  if (state->count_less < static_cast<Key>(pairs / 2)) return;  // the same for every thread of the grid
  const Key upper = state->prefix;
  Key most = 0;
  CKA_FOR_EACH(q, pairs) {
    const Key key = order_key(pair_distance(gram, diagonal, n, static_cast<uint32_t>(q)));
    if (key < upper) most = max(most, key);
  }
  most = block_max(most, scratch);
  if (threadIdx.x == 0 && most != 0) atomicMax(&state->max_below, most);
}

__global__ void finish_kernel(const SelectState* state, int64_t pairs, double* stats) {
  const double upper = from_order_key(state->prefix);
  const bool lower_below = pairs % 2 == 0 && state->count_less >= static_cast<Key>(pairs / 2);
  const double lower = lower_below ? from_order_key(state->max_below) : upper;
  stats[0] = kernels::median_from_middle(lower, upper, pairs);
  stats[1] = state->min_nonzero == kNoKey ? 0.0 : from_order_key(state->min_nonzero);
  stats[2] = from_order_key(state->max_key);
}

__global__ void rbf_entries_kernel(const double* gram, int64_t n, const double* diagonal, double frac,
                                   const double* stats, double* out, double* spread) {
  const double width = kernels::rbf_width_sq(frac, stats[0]);
  if (spread != nullptr && blockIdx.x == 0 && threadIdx.x == 0) {
    spread[0] = stats[1];
    spread[1] = stats[2];
    spread[2] = width;
  }
  CKA_FOR_EACH(index, n * n) {
    int64_t i, j;
    row_and_column(index, n, i, j);
    out[index] = kernels::rbf_entry(kernels::squared_distance(diagonal[i], diagonal[j], gram[index]), width);
  }
}

void check_examples(int64_t n) {
  CONVLAB_CHECK(n >= 2, "the RBF width needs distances between at least 2 examples, got {}", n);
  CONVLAB_CHECK(n <= kMaxGramSide, "a Gram of {} examples is larger than the CUDA CKA takes ({})", n, kMaxGramSide);
}

// Blocks for the passes over the pairs: as many as stay resident, at most one per kThreads
// pairs. Each block flushes its histogram once, so more would only add atomics.
unsigned pair_blocks(int64_t pairs) {
  int device = 0, sms = 0, per_sm = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, digit_histogram_kernel, kThreads, 0));
  const int64_t resident = static_cast<int64_t>(std::max(sms, 1)) * std::max(per_sm, 1);
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>((pairs + kThreads - 1) / kThreads, resident)));
}

}  // namespace

size_t rbf_workspace_bytes(int64_t n) {
  check_examples(n);
  return Layout(n).total;
}

void distance_stats(const double* gram, int64_t n, void* workspace, size_t workspace_bytes, double* stats,
                    cudaStream_t stream) {
  check_examples(n);
  const Layout layout(n);
  CONVLAB_CHECK(workspace_bytes >= layout.total, "the RBF workspace holds {} bytes, {} are needed", workspace_bytes,
                layout.total);
  char* base = static_cast<char*>(workspace);
  double* diagonal = reinterpret_cast<double*>(base + layout.diagonal);
  SelectState* state = reinterpret_cast<SelectState*>(base + layout.state);
  unsigned* histogram = reinterpret_cast<unsigned*>(base + layout.histogram);
  const int64_t pairs = n * (n - 1) / 2;  // < 2^31 for n <= kMaxGramSide
  const uint32_t side = static_cast<uint32_t>(n);
  const unsigned blocks = pair_blocks(pairs);

  diagonal_kernel<<<grid_for(n), kThreads, 0, stream>>>(gram, n, diagonal);
  CUDA_CHECK_LAUNCH();
  select_init_kernel<<<1, 1, 0, stream>>>(state, pairs);
  CUDA_CHECK_LAUNCH();
  CUDA_CHECK(cudaMemsetAsync(histogram, 0, kBins * sizeof(unsigned), stream));
  for (int pass = 0; pass < kPasses; ++pass) {
    const int known = pass * kDigitBits;              // bits above this pass's digit
    const int width = std::min(kDigitBits, 64 - known);  // 11, the last pass 9
    const int shift = 64 - known - width;
    const Key known_mask = known == 0 ? Key{0} : ~Key{0} << (64 - known);
    const unsigned digit_mask = (1u << width) - 1u;
    digit_histogram_kernel<<<blocks, kThreads, 0, stream>>>(gram, diagonal, side, pairs, state, known_mask, shift,
                                                            digit_mask, pass == 0, histogram);
    CUDA_CHECK_LAUNCH();
    select_digit_kernel<<<1, kThreads, 0, stream>>>(histogram, state, shift);
    CUDA_CHECK_LAUNCH();
  }
  if (pairs % 2 == 0) {
    below_kernel<<<blocks, kThreads, 0, stream>>>(gram, diagonal, side, pairs, state);
    CUDA_CHECK_LAUNCH();
  }
  finish_kernel<<<1, 1, 0, stream>>>(state, pairs, stats);
  CUDA_CHECK_LAUNCH();
}

void rbf_from_linear_gram(const double* gram, int64_t n, double frac, const double* stats, double* out,
                          double* spread, void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  CONVLAB_CHECK(std::isfinite(frac) && frac > 0.0, "the RBF width fraction must be positive and finite, got {}",
                frac);
  check_examples(n);
  const Layout layout(n);
  CONVLAB_CHECK(workspace_bytes >= layout.total, "the RBF workspace holds {} bytes, {} are needed", workspace_bytes,
                layout.total);
  double* diagonal = reinterpret_cast<double*>(static_cast<char*>(workspace) + layout.diagonal);
  diagonal_kernel<<<grid_for(n), kThreads, 0, stream>>>(gram, n, diagonal);
  CUDA_CHECK_LAUNCH();
  rbf_entries_kernel<<<grid_for(n * n), kThreads, 0, stream>>>(gram, n, diagonal, frac, stats, out, spread);
  CUDA_CHECK_LAUNCH();
}

}  // namespace convlab::cka_cuda
