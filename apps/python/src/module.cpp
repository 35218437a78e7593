// The module convlab._convlab: the compiled half of the Python package (apps/python/convlab
// is the other), its exceptions and the helpers that its parts share (bindings.h).
#include <Python.h>
#include <nanobind/stl/string.h>

#include <map>
#include <memory>
#include <new>

#include "bindings.h"
#include "framework/backend/cuda_device.h"
#include "framework/core/version.h"

namespace convlab::python {

void check_interrupt() {
  nb::gil_scoped_acquire gil;
  if (PyErr_CheckSignals() != 0) throw nb::python_error();
}

bool built_with_cuda() {
#if CONVLAB_WITH_CUDA
  return true;
#else
  return false;
#endif
}

Device cuda_device(int ordinal) {
  if (!built_with_cuda())
    throw InputError(
        "this convlab was built without CUDA, so it cannot use a GPU: reinstall it where nvcc is on the PATH "
        "(pip install . builds the CUDA backend when it finds nvcc), or pass arrays on the CPU (x.cpu() in "
        "PyTorch) and device='cpu'");
  // Never destroyed: arrays and models on these devices may outlive any owner we could name,
  // and CUDA must not be torn down before them at exit.
  static auto* contexts = new std::map<int, std::unique_ptr<DeviceContext>>();
  auto it = contexts->find(ordinal);
  if (it == contexts->end()) {
    if (!cuda_available())
      throw InputError("no CUDA GPU answers (no device or no driver): use device='cpu', or arrays on the CPU");
    it = contexts->emplace(ordinal, create_cuda_context(ordinal)).first;
  }
  return Device(it->second.get());
}

Device device_named(const std::string& name) {
  if (name == "cpu") return cpu();
  if (name == "cuda") return cuda_device(0);
  if (name.rfind("cuda:", 0) == 0) {
    const std::string digits = name.substr(5);
    if (!digits.empty() && digits.size() <= 3 && digits.find_first_not_of("0123456789") == std::string::npos)
      return cuda_device(std::stoi(digits));
  }
  throw InputError("unknown device '" + message_excerpt(name) + "': use 'auto', 'cpu', 'cuda' or 'cuda:N'");
}

Tensor borrow_features(const AnyArray& array, const std::string& what) {
  DType dtype;
  if (array.dtype() == nb::dtype<float>())
    dtype = DType::f32;
  else if (array.dtype() == nb::dtype<double>())
    dtype = DType::f64;
  else
    throw InputError(what + ": features must be float32 or float64 (convlab.cka and its kin convert others)");
  if (array.ndim() < 1) throw InputError(what + ": features must have a first axis of examples, got a scalar");
  // C order: each dimension's stride is the product of the later ones (size-1 axes are free).
  int64_t expected = 1;
  for (size_t d = array.ndim(); d-- > 0;) {
    if (array.shape(d) != 1 && array.stride(d) != expected)
      throw InputError(what + ": features must be C-contiguous (numpy.ascontiguousarray, tensor.contiguous())");
    expected *= static_cast<int64_t>(array.shape(d));
  }
  const int64_t n = static_cast<int64_t>(array.shape(0));
  const int64_t p = n == 0 ? 0 : expected / n;
  void* data = const_cast<void*>(array.data());
  switch (array.device_type()) {
    case nb::device::cpu::value: return Tensor::borrow(data, {n, p}, dtype, cpu());
    case nb::device::cuda::value: {
      const Device device = cuda_device(array.device_id());
      wait_for_gpu(array.device_id());  // the producer's streams are not ours
      return Tensor::borrow(data, {n, p}, dtype, device);
    }
    default: throw InputError(what + ": features must lie in host memory or on a CUDA GPU");
  }
}

nb::object numpy_matrix(const std::vector<double>& values, int64_t rows, int64_t cols) {
  auto* copy = new std::vector<double>(values);
  nb::capsule owner(copy, [](void* p) noexcept { delete static_cast<std::vector<double>*>(p); });
  nb::ndarray<nb::numpy, double, nb::ndim<2>> array(copy->data(), {static_cast<size_t>(rows), static_cast<size_t>(cols)},
                                                    owner);
  return nb::cast(array);
}

}  // namespace convlab::python

NB_MODULE(_convlab, m) {
  using namespace convlab::python;
  m.doc() = "convlab's compiled core; use the package convlab, whose functions document themselves.";

  // convlab.Error and its two kinds, as the package exports them.
  // Raw references, never released: the classes live as long as the interpreter.
  static PyObject* error = PyErr_NewExceptionWithDoc(
      "convlab.Error", "Any error convlab reports; its message says what went wrong and what to do.", PyExc_Exception,
      nullptr);
  static PyObject* input_error = PyErr_NewExceptionWithDoc(
      "convlab.InputError", "Bad input (a ValueError): arguments, arrays, files or configs convlab cannot use.",
      nb::make_tuple(nb::handle(error), nb::handle(PyExc_ValueError)).ptr(), nullptr);
  static PyObject* run_error = PyErr_NewExceptionWithDoc(
      "convlab.RunError",
      "A failure while computing (a RuntimeError): a GPU error, a non-finite loss, a file that cannot be written.",
      nb::make_tuple(nb::handle(error), nb::handle(PyExc_RuntimeError)).ptr(), nullptr);
  m.attr("Error") = nb::handle(error);
  m.attr("InputError") = nb::handle(input_error);
  m.attr("RunError") = nb::handle(run_error);
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const InputError& e) {
      PyErr_SetString(input_error, e.what());
    } catch (const convlab::Error& e) {
      PyErr_SetString(run_error, e.what());
    }
  });

  m.attr("__version__") = convlab::version();
  m.def("built_with_cuda", &built_with_cuda, "True when this convlab was built with its CUDA backend.");
  m.def("cuda_available", &convlab::cuda_available,
        "True when convlab was built with CUDA and a GPU answers (any CUDA error means no GPU).");
  bind_analysis(m);
  bind_models(m);
  bind_training(m);
}
