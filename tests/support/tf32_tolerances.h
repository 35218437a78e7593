// How far TF32 Gram products may move RSA and Procrustes, absolute. The CPU simulation of
// TF32's rounding (test_tf32_bound.cpp) holds each measure's change within
// kTf32SimulatedBound; the GPU tests in TF32 (test_similarity_cuda.cpp) allow that plus the
// 1e-5 their fp32 tests allow for the GPU's own fp32 sums, with room to spare.
#pragma once

namespace convlab::test_support {

inline constexpr double kTf32SimulatedBound = 1e-5;
inline constexpr double kTf32RsaTolerance = 3e-5;
inline constexpr double kTf32ProcrustesTolerance = 3e-5;

}  // namespace convlab::test_support
