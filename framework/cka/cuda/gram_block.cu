#include "framework/cka/cuda/gram_block.h"

#include "framework/backend/cuda/cuda_check.h"
#include "framework/cka/cuda/launch.h"

namespace convlab::cka_cuda {
namespace {

// A block per 32 x 32 tile of the upper triangle: 32 x 8 threads, each doing 4 rows of the
// tile. The grid is (tiles, tiles); blocks below the diagonal return at once.
constexpr int kTile = 32;
constexpr int kTileRows = 8;

__device__ __forceinline__ void store(double* entry, float product, bool first_block) {
  const double value = static_cast<double>(product);
  *entry = first_block ? value : *entry + value;
}

// Tile (tile_row, tile_col), tile_row <= tile_col: Gram rows i0 + a and columns j0 + b,
// a, b in [0, 32). The partial's upper entry (row i0 + a, column j0 + b) lies at
// partial[(i0 + a) + (j0 + b) n]; it is loaded into tile[b][a] with a = threadIdx.x, so that a
// warp reads 32 consecutive floats of one partial column.
__global__ void __launch_bounds__(kTile * kTileRows)
    add_gram_block_kernel(const float* partial, int n, bool first_block, double* gram) {
  const int tile_row = static_cast<int>(blockIdx.y), tile_col = static_cast<int>(blockIdx.x);
  if (tile_row > tile_col) return;  // the whole block: no barrier has been reached
  __shared__ float tile[kTile][kTile + 1];  // +1: a column of the tile spans all 32 banks
  const int tx = static_cast<int>(threadIdx.x), ty = static_cast<int>(threadIdx.y);
  const int i0 = tile_row * kTile, j0 = tile_col * kTile;
  const int64_t stride = n;
  for (int b = ty; b < kTile; b += kTileRows) {
    const int row = i0 + tx, col = j0 + b;
    if (row < n && col < n) tile[b][tx] = partial[row + col * stride];
  }
  __syncthreads();
  if (tile_row == tile_col) {
    // Gram (i0 + a, i0 + tx): the partial's (i0 + a, i0 + tx) = tile[tx][a] above the
    // diagonal (a <= tx), its mirror (i0 + tx, i0 + a) = tile[a][tx] below. Only loaded
    // entries with row <= column are read.
    for (int a = ty; a < kTile; a += kTileRows) {
      const int row = i0 + a, col = i0 + tx;
      if (row < n && col < n) store(gram + row * stride + col, a <= tx ? tile[tx][a] : tile[a][tx], first_block);
    }
    return;
  }
  // Above the diagonal, Gram (i0 + a, j0 + tx) = tile[tx][a]: a warp writes one Gram row.
  for (int a = ty; a < kTile; a += kTileRows) {
    const int row = i0 + a, col = j0 + tx;
    if (row < n && col < n) store(gram + row * stride + col, tile[tx][a], first_block);
  }
  // The mirrored tile below it, Gram (j0 + b, i0 + tx) = tile[b][tx].
  for (int b = ty; b < kTile; b += kTileRows) {
    const int row = j0 + b, col = i0 + tx;
    if (row < n && col < n) store(gram + row * stride + col, tile[b][tx], first_block);
  }
}

}  // namespace

void add_gram_block(const float* partial, int64_t n, bool first_block, double* gram, cudaStream_t stream) {
  if (n == 0) return;
  CONVLAB_CHECK(n > 0 && n <= kMaxGramSide, "a Gram of {} examples is larger than the CUDA CKA takes ({})", n,
                kMaxGramSide);
  // At most ceil(46340 / 32) = 1449 tiles per side: within gridDim.y's 65535.
  const unsigned tiles = static_cast<unsigned>((n + kTile - 1) / kTile);
  const dim3 grid(tiles, tiles), block(kTile, kTileRows);
  add_gram_block_kernel<<<grid, block, 0, stream>>>(partial, static_cast<int>(n), first_block, gram);
  CUDA_CHECK_LAUNCH();
}

}  // namespace convlab::cka_cuda
