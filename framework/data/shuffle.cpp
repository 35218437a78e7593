#include "framework/data/shuffle.h"

#include <algorithm>
#include <limits>

#include "framework/core/error.h"
#include "kernels/philox.h"

namespace convlab {

std::vector<int32_t> epoch_order(int64_t n, uint64_t seed, uint32_t epoch) {
  CONVLAB_CHECK(n >= 0 && n <= std::numeric_limits<int32_t>::max(), "cannot shuffle {} examples", n);
  const kernels::RandomKey key{seed, random_stream::kShuffle, epoch};
  std::vector<uint64_t> keys(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    keys[i] =
        (static_cast<uint64_t>(kernels::random_u32(key, static_cast<uint64_t>(i))) << 32) | static_cast<uint64_t>(i);
  std::sort(keys.begin(), keys.end());
  std::vector<int32_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[i] = static_cast<int32_t>(keys[i] & 0xffffffffu);
  return order;
}

}  // namespace convlab
