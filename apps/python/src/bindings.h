// What the parts of the Python module share: convlab's errors as Python exceptions, devices
// by name, arrays from Python as tensors, and Ctrl-C during long computations.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "framework/analysis/feature_source.h"
#include "framework/core/device.h"
#include "framework/core/error.h"
#include "framework/core/tensor.h"

namespace convlab::python {

namespace nb = nanobind;

// Raised as convlab.InputError (a ValueError): the caller's arguments or files are wrong.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Runs f; a convlab::Error it throws becomes an InputError. For calls whose every failure is
// about their input: the features handed to a measure, a checkpoint's file, a config. Any
// other convlab::Error reaches Python as convlab.RunError (a RuntimeError).
template <class F>
decltype(auto) input_errors(F&& f) {
  try {
    return std::forward<F>(f)();
  } catch (const convlab::Error& e) {
    throw InputError(e.what());
  }
}

// Raises KeyboardInterrupt (as nb::python_error) if Ctrl-C was pressed; takes the GIL for the
// check, so it may be called with the GIL released, between two steps of a computation.
void check_interrupt();

// A device by name: "cpu", "cuda" (GPU 0) or "cuda:N". CUDA contexts are made once per GPU
// and live as long as the process (arrays and models on them may be held by Python anywhere).
Device device_named(const std::string& name);
// GPU `ordinal`'s context, made on first use.
Device cuda_device(int ordinal);
bool built_with_cuda();

// A Python array (numpy, or any DLPack producer: PyTorch, JAX, CuPy) as a borrowed tensor
// (n, p): each example's values flattened, no copy. The array must be float32 or float64
// and C-contiguous (the Python layer converts others); `what` names it in errors. GPU arrays
// give tensors on that GPU's context, after waiting for the GPU's other streams.
using AnyArray = nb::ndarray<nb::ro>;
Tensor borrow_features(const AnyArray& array, const std::string& what);

// A float64 numpy array (rows, cols) that owns a copy of `values`.
nb::object numpy_matrix(const std::vector<double>& values, int64_t rows, int64_t cols);

// A convlab.Model's network (its ModelCore) run over `images`, uint8 (n, 3, 32, 32), as a
// feature source, its features moved to `target` when one is given; nullptr when `network` is
// no ModelCore. Its batches must run, and it must be destroyed, under forward_mutex() held
// without the GIL (model_bindings.cpp).
std::unique_ptr<FeatureSource> network_features(nb::handle network, nb::handle images, const std::string& description,
                                                std::optional<Device> target);
// Held by every forward pass of a ModelCore's network: one at a time, whichever thread asks.
std::mutex& forward_mutex();

void bind_analysis(nb::module_& m);
void bind_models(nb::module_& m);
void bind_training(nb::module_& m);

}  // namespace convlab::python
