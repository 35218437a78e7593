// What a CKA computation uses: the kernel that turns features into a Gram matrix and the
// HSIC estimator. Every entry point takes these, so a choice made once holds everywhere,
// including comparisons of two different networks.
#pragma once

#include <string>

namespace convlab::cka {

enum class KernelKind { linear, rbf };

struct Kernel {
  KernelKind kind = KernelKind::linear;
  // RBF width: s^2 = rbf_frac^2 * median of the squared distances between distinct examples
  // (Kornblith et al.'s "threshold"; 1 takes the median itself). Unused by the linear kernel.
  double rbf_frac = 1.0;

  static Kernel linear() { return {}; }
  static Kernel rbf(double frac = 1.0) { return {KernelKind::rbf, frac}; }
  std::string str() const;  // "linear", "rbf(frac=0.5)"
};

enum class Estimator {
  biased,    // <HKH, HLH> / (n-1)^2: needs n >= 2
  debiased,  // Song et al. (2012): needs n >= 4, can be slightly negative
};

struct Options {
  Kernel kernel;
  Estimator estimator = Estimator::biased;
};

const char* estimator_name(Estimator estimator);

// How a GPU multiplies the f32 features of a Gram (every measure starts from one): on TF32
// tensor cores, which round the operands to 10 mantissa bits and sum in fp32, or in fp32 FMA
// only. The CPU always computes in fp32.
enum class GramPrecision {
  tf32,  // fast; CKA within 1e-4 of float64
  fp32,  // CKA within 1e-6 of float64
};
const char* precision_name(GramPrecision precision);  // "tf32", "fp32"

}  // namespace convlab::cka
