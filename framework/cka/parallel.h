// When a pass over CKA buffers is worth an OpenMP team: below kParallelMin elements it runs
// on one thread, since waking the team costs more than it saves and the team's spinning
// threads would compete with OpenBLAS's own.
#pragma once

#include <cstdint>

namespace convlab::cka {

inline constexpr int64_t kParallelMin = int64_t{1} << 20;

}  // namespace convlab::cka
