// Kernels for the Philox tests (curand_device_draws.h): one thread per start or key, each
// writing its run of words.
#include <curand_kernel.h>

#include "framework/backend/cuda/cuda_check.h"
#include "tests/support/curand_device_draws.h"

namespace convlab::test_support {
namespace {

__global__ void curand_words_kernel(const CurandStart* starts, int count, int words, uint32_t* out) {
  const int s = blockIdx.x * blockDim.x + threadIdx.x;
  if (s >= count) return;
  uint32_t* mine = out + int64_t(s) * 2 * words;
  curandStatePhilox4_32_10_t state;
  curand_init(starts[s].seed, starts[s].subsequence, starts[s].offset, &state);
  for (int i = 0; i < words; i += 4) {
    const uint4 four = curand4(&state);
    mine[i] = four.x, mine[i + 1] = four.y, mine[i + 2] = four.z, mine[i + 3] = four.w;
  }
  curand_init(starts[s].seed, starts[s].subsequence, starts[s].offset, &state);
  for (int i = 0; i < words; ++i) mine[words + i] = curand(&state);
}

__global__ void random_u32_kernel(const RandomKey* keys, int count, uint64_t first, int words, uint32_t* out) {
  const int k = blockIdx.x * blockDim.x + threadIdx.x;
  if (k >= count) return;
  for (int i = 0; i < words; ++i) out[int64_t(k) * words + i] = kernels::random_u32(keys[k], first + i);
}

// Copies `items` to the device, runs launch(device items, device output), and returns the output.
template <class T, class Launch>
std::vector<uint32_t> run(const std::vector<T>& items, size_t out_words, Launch&& launch) {
  T* d_items = nullptr;
  uint32_t* d_out = nullptr;
  std::vector<uint32_t> result(out_words);
  CUDA_CHECK(cudaMalloc(&d_items, sizeof(T) * items.size()));
  CUDA_CHECK(cudaMalloc(&d_out, sizeof(uint32_t) * out_words));
  CUDA_CHECK(cudaMemcpy(d_items, items.data(), sizeof(T) * items.size(), cudaMemcpyHostToDevice));
  launch(d_items, d_out);
  CUDA_CHECK_LAUNCH();
  CUDA_CHECK(cudaMemcpy(result.data(), d_out, sizeof(uint32_t) * out_words, cudaMemcpyDeviceToHost));
  CUDA_CHECK(cudaFree(d_items));
  CUDA_CHECK(cudaFree(d_out));
  return result;
}

}  // namespace

std::vector<uint32_t> curand_words_on_device(const std::vector<CurandStart>& starts, int words) {
  CONVLAB_CHECK(words > 0 && words % 4 == 0, "curand_words_on_device: {} words is not a positive multiple of 4", words);
  const int count = static_cast<int>(starts.size());
  return run(starts, starts.size() * 2 * words, [&](const CurandStart* d_starts, uint32_t* d_out) {
    curand_words_kernel<<<(count + 63) / 64, 64>>>(d_starts, count, words, d_out);
  });
}

std::vector<uint32_t> random_u32_on_device(const std::vector<RandomKey>& keys, uint64_t first, int words) {
  const int count = static_cast<int>(keys.size());
  return run(keys, keys.size() * words, [&](const RandomKey* d_keys, uint32_t* d_out) {
    random_u32_kernel<<<(count + 63) / 64, 64>>>(d_keys, count, first, words, d_out);
  });
}

}  // namespace convlab::test_support
