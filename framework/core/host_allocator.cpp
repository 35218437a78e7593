#include "framework/core/host_allocator.h"

#include <cstdlib>  // defines __GLIBC__ on glibc

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace convlab {

void return_large_blocks_to_the_system() {
#if defined(__GLIBC__)
  constexpr int kLargeBlock = 1 << 20;
  mallopt(M_MMAP_THRESHOLD, kLargeBlock);  // a fixed threshold: glibc no longer moves it
#endif
}

}  // namespace convlab
