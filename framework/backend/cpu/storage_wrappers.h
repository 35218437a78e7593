// Two wrappers that let the CPU backend's float kernels serve other storage, used in the CPU
// table (cpu_backend.cpp):
//
// - via_f32<&fn>: bf16 tensors stored as bf16, computed in f32. Every bf16 operand is read
//   into an f32 copy, fn runs on the copies, and the copies of its outputs (the non-const
//   Tensor& parameters) are rounded back into the bf16 tensors. So each op rounds once, at its
//   output, which is where the GPU's kernels round: parity tests compare like with like.
//   Without a bf16 operand it calls fn directly.
// - via_contiguous<&fn>: for the convolution slots, channels_last operands are transposed to
//   contiguous copies, fn runs on them, and outputs are transposed back. This is the CPU twin
//   of cuDNN's NHWC kernels (whose layout logic is cuDNN's); the layout logic that is
//   convlab's own (BatchNorm, pooling, batch assembly, conversion) runs natively in both
//   formats on the CPU.
#pragma once

#include <tuple>
#include <utility>

#include "framework/backend/backend.h"

namespace convlab::backend_cpu {

// How one argument reaches the wrapped function: unchanged, or through a converted copy.
// Needs(t) says whether a tensor needs the copy; Convert(t) makes it; Restore(copy, t)
// writes an output back.
template <class A, class Policy>
struct Staged {
  A arg;
  explicit Staged(A a) : arg(std::forward<A>(a)) {}
  A get() { return std::forward<A>(arg); }
  void finish() {}
};

template <class Policy>
struct Staged<const Tensor&, Policy> {
  const Tensor& original;
  Tensor copy;
  explicit Staged(const Tensor& t) : original(t) {
    if (t.defined() && Policy::needs(t)) copy = Policy::convert(t);
  }
  const Tensor& get() { return copy.defined() ? copy : original; }
  void finish() {}
};

template <class Policy>
struct Staged<const Tensor*, Policy> {
  const Tensor* original;
  Tensor copy;
  explicit Staged(const Tensor* t) : original(t) {
    if (t && t->defined() && Policy::needs(*t)) copy = Policy::convert(*t);
  }
  const Tensor* get() { return copy.defined() ? &copy : original; }
  void finish() {}
};

template <class Policy>
struct Staged<Tensor&, Policy> {  // an output (or in-out): converted in, restored after
  Tensor& original;
  Tensor copy;
  explicit Staged(Tensor& t) : original(t) {
    if (t.defined() && Policy::needs(t)) copy = Policy::convert(t);
  }
  Tensor& get() { return copy.defined() ? copy : original; }
  void finish() {
    if (copy.defined()) Policy::restore(copy, original);
  }
};

template <class Policy>
inline bool any_needs(const Tensor& t) { return t.defined() && Policy::needs(t); }
template <class Policy>
inline bool any_needs(const Tensor* t) { return t && any_needs<Policy>(*t); }
template <class Policy, class T>
bool any_needs(const std::vector<T*>& tensors) {
  for (const Tensor* t : tensors)
    CONVLAB_CHECK(!any_needs<Policy>(*t), "{}: {} is not supported in a multi-tensor op", Policy::kWhat,
                  t->describe());
  return false;
}
template <class Policy, class T>
bool any_needs(const T&) {
  return false;
}

template <class Policy, auto Fn>
struct staged_call;
template <class Policy, class... Args, void (*Fn)(Args...)>
struct staged_call<Policy, Fn> {
  static void call(Args... args) {
    if (!(any_needs<Policy>(args) || ...)) return Fn(std::forward<Args>(args)...);
    std::tuple<Staged<Args, Policy>...> staged(std::forward<Args>(args)...);
    std::apply([](auto&... s) { Fn(s.get()...); }, staged);
    std::apply([](auto&... s) { (s.finish(), ...); }, staged);
  }
};

struct Bf16AsF32 {
  static constexpr const char* kWhat = "bf16 storage";
  static bool needs(const Tensor& t) { return t.dtype() == DType::bf16; }
  static Tensor convert(const Tensor& t) {
    Tensor copy = Tensor::empty(t.shape(), DType::f32, t.device(), t.format());
    cpu_backend().convert(t, copy);
    return copy;
  }
  static void restore(const Tensor& copy, Tensor& t) { cpu_backend().convert(copy, t); }
};

struct ChannelsLastAsContiguous {
  static constexpr const char* kWhat = "channels_last";
  static bool needs(const Tensor& t) { return t.channels_last(); }
  static Tensor convert(const Tensor& t) {
    Tensor copy = Tensor::empty(t.shape(), t.dtype(), t.device());
    cpu_backend().convert(t, copy);
    return copy;
  }
  static void restore(const Tensor& copy, Tensor& t) { cpu_backend().convert(copy, t); }
};

template <auto Fn>
using via_f32 = staged_call<Bf16AsF32, Fn>;
template <auto Fn>
using via_contiguous = staged_call<ChannelsLastAsContiguous, Fn>;

}  // namespace convlab::backend_cpu
