// CKA, RSA and Procrustes from Python: compare() runs compare_layers over arrays that stay
// where Python keeps them (no copy), Comparison feeds the same accumulators batch by batch,
// identify() runs the which-layer-is-which test over arrays and checkpoints' networks.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "bindings.h"
#include "framework/analysis/compare.h"
#include "framework/analysis/identify.h"
#include "framework/analysis/streaming_comparison.h"

namespace convlab::python {

namespace {

using Kernels = std::vector<std::pair<std::string, double>>;  // ("linear" | "rbf", rbf_frac)
// The measures' own settings: ("knn" | "svcca_variance" | "svcca_dims" | "ridge", value).
using Parameters = std::vector<std::pair<std::string, double>>;

CompareSettings settings_from(const std::vector<std::string>& measures, const Kernels& kernels,
                              const std::string& estimator, int64_t batch_size, int64_t bootstrap, uint64_t seed,
                              const std::optional<std::string>& precision, const Parameters& parameters) {
  CompareSettings s;
  s.measures.clear();
  for (const std::string& name : measures) {
    const std::optional<Measure> m = measure_named(name);
    if (!m) throw InputError("unknown measure '" + message_excerpt(name) + "': use one of " + measure_names());
    s.measures.push_back(*m);
  }
  for (const auto& [key, value] : parameters) {
    if (key == "knn") {
      if (!(value >= 1 && value <= 1e5) || value != static_cast<double>(static_cast<int64_t>(value)))
        throw InputError("knn must be a whole number of neighbours from 1 to 100000, got " + std::to_string(value));
      s.knn = static_cast<int64_t>(value);
    } else if (key == "svcca_variance") {
      if (!(value > 0.0 && value <= 1.0))
        throw InputError("svcca_variance must lie in (0, 1], got " + std::to_string(value));
      s.svcca_variance = value;
    } else if (key == "svcca_dims") {
      if (!(value >= 1 && value <= 1e5) || value != static_cast<double>(static_cast<int64_t>(value)))
        throw InputError("svcca_dims must be a whole number from 1 to 100000 (or None), got " + std::to_string(value));
      s.svcca_dims = static_cast<int64_t>(value);
    } else if (key == "permutations") {
      if (!(value >= 0 && value <= 1e6) || value != static_cast<double>(static_cast<int64_t>(value)))
        throw InputError("permutations must be a whole number from 0 to 1000000, got " + std::to_string(value));
      s.permutations = static_cast<int64_t>(value);
    } else if (key == "ridge") {
      if (!(value > 0.0 && value < 1e12)) throw InputError("ridge must be a positive penalty, got " + std::to_string(value));
      s.ridge = value;
    } else {
      throw InputError("unknown measure setting '" + message_excerpt(key) + "'");
    }
  }
  s.kernels.clear();
  for (const auto& [kind, frac] : kernels) {
    if (kind == "linear") s.kernels.push_back(cka::Kernel::linear());
    else if (kind == "rbf") {
      if (!(frac > 0.0) || !(frac < 1e6))
        throw InputError("rbf_frac must be a positive number below 1e6 (the RBF width as a fraction of the median "
                         "distance), got " + std::to_string(frac));
      s.kernels.push_back(cka::Kernel::rbf(frac));
    } else throw InputError("unknown kernel '" + message_excerpt(kind) + "': use 'linear' or 'rbf'");
  }
  if (estimator == "debiased") s.estimator = cka::Estimator::debiased;
  else if (estimator == "biased") s.estimator = cka::Estimator::biased;
  else throw InputError("unknown estimator '" + message_excerpt(estimator) + "': use 'debiased' or 'biased'");
  if (batch_size < 1) throw InputError("batch_size must be positive, got " + std::to_string(batch_size));
  if (bootstrap < 0 || bootstrap == 1)
    throw InputError("bootstrap must be 0 (none) or at least 2 replicates, got " + std::to_string(bootstrap));
  s.batch_size = batch_size;
  s.bootstrap = bootstrap;
  s.seed = seed;
  if (precision) {
    if (*precision == "tf32") s.precision = cka::GramPrecision::tf32;
    else if (*precision == "fp32") s.precision = cka::GramPrecision::fp32;
    else throw InputError("unknown precision '" + message_excerpt(*precision) + "': use 'fp32', 'tf32' or None");
  }
  return s;
}

// Where the measures run: "auto" where the arrays lie, else the device named.
std::optional<Device> target_of(const std::string& device) {
  if (device == "auto") return std::nullopt;
  return device_named(device);
}

// Tensors on the target: borrowed where the arrays already lie there, else copied (one
// batch's worth) to it.
std::vector<Tensor> on_target(std::vector<Tensor> layers, const std::optional<Device>& target) {
  if (!target) return layers;
  for (Tensor& t : layers)
    if (!(t.device() == *target)) t = t.to(*target);
  return layers;
}

nb::dict to_dict(const SimilarityMatrix& m) {
  nb::dict d;
  d["measure"] = measure_name(m.measure);
  d["kernel"] = m.measure == Measure::cka ? m.options.kernel.str() : std::string();
  d["estimator"] = m.measure == Measure::cka ? cka::estimator_name(m.options.estimator) : "";
  d["values"] = numpy_matrix(m.values, m.rows, m.cols);
  d["row_names"] = m.row_names;
  d["col_names"] = m.col_names;
  d["examples"] = m.examples;
  d["batches"] = m.batches;
  d["batch_size"] = m.batch_size;
  d["forms"] = m.forms;
  d["precision"] = m.precision;
  nb::dict parameters;
  for (const auto& [key, value] : m.parameters) parameters[key.c_str()] = value;
  d["parameters"] = parameters;
  d["kept_dims"] = m.kept_dims;
  if (m.permutation) {
    nb::dict t;
    t["permutations"] = m.permutation->permutations;
    t["seed"] = m.permutation->seed;
    t["alpha"] = m.permutation->alpha;
    t["p_value"] = numpy_matrix(m.permutation->p_value, m.rows, m.cols);
    t["null_mean"] = numpy_matrix(m.permutation->null_mean, m.rows, m.cols);
    t["null_q05"] = numpy_matrix(m.permutation->null_q05, m.rows, m.cols);
    t["null_q95"] = numpy_matrix(m.permutation->null_q95, m.rows, m.cols);
    std::vector<double> significant;
    for (bool b : m.permutation->significant) significant.push_back(b ? 1.0 : 0.0);
    t["significant"] = numpy_matrix(significant, m.rows, m.cols);
    d["permutation"] = t;
  }
  if (m.bootstrap) {
    nb::dict b;
    b["replicates"] = m.bootstrap->replicates;
    b["seed"] = m.bootstrap->seed;
    b["mean"] = numpy_matrix(m.bootstrap->mean, m.rows, m.cols);
    b["std"] = numpy_matrix(m.bootstrap->std, m.rows, m.cols);
    b["low"] = numpy_matrix(m.bootstrap->q025, m.rows, m.cols);
    b["high"] = numpy_matrix(m.bootstrap->q975, m.rows, m.cols);
    d["bootstrap"] = b;
  }
  return d;
}

// Borrowed GPU memory belongs to another library, which may reuse it as soon as Python lets go
// of the array: every kernel that reads it must have finished before control returns, also
// when a measure threw halfway (each batch's terms end in a copy to the host, which waits, but
// an error may come before it).
template <class F>
decltype(auto) waiting_for(Device device, F&& f) {
  try {
    return std::forward<F>(f)();
  } catch (...) {
    if (device.is_cuda()) device.context().synchronize();
    throw;
  }
}

// The same for sources on several devices (identify's networks).
template <class F>
decltype(auto) waiting_for(const std::vector<Device>& devices, F&& f) {
  try {
    return std::forward<F>(f)();
  } catch (...) {
    for (const Device& device : devices)
      if (device.is_cuda()) device.context().synchronize();
    throw;
  }
}

nb::list to_list(const std::vector<SimilarityMatrix>& matrices) {
  nb::list out;
  for (const SimilarityMatrix& m : matrices) out.append(to_dict(m));
  return out;
}

std::vector<std::string> layer_names(size_t count, const std::optional<std::vector<std::string>>& names,
                                     const std::string& network) {
  if (!names) {
    std::vector<std::string> out;
    for (size_t i = 0; i < count; ++i) out.push_back(std::to_string(i));
    return out;
  }
  if (names->size() != count)
    throw InputError("names of " + network + ": " + std::to_string(names->size()) +
                     " names for " + std::to_string(count) + " layers");
  return *names;
}

// Python arrays as a FeatureSource: each batch a slice of every array (a borrowed view), on
// the arrays' device or copied to the target. Ctrl-C is checked at every batch.
class ArrayFeatureSource final : public FeatureSource {
 public:
  ArrayFeatureSource(const std::vector<AnyArray>& arrays, std::vector<std::string> names, std::string description,
                     std::optional<Device> target)
      : names_(std::move(names)), description_(std::move(description)), target_(target) {
    if (arrays.empty()) throw InputError(description_ + ": no layers (pass a list of arrays)");
    for (size_t l = 0; l < arrays.size(); ++l) {
      const std::string what = "layer " + names_[l] + " of " + description_;
      whole_.push_back(borrow_features(arrays[l], what));
      if (whole_[l].dim(0) != whole_[0].dim(0))
        throw InputError(what + " has " + std::to_string(whole_[l].dim(0)) + " examples, layer " + names_[0] +
                         " has " + std::to_string(whole_[0].dim(0)) + ": every layer holds the same examples");
      if (whole_[l].dim(1) < 1) throw InputError(what + " has no features");
      if (!(whole_[l].device() == whole_[0].device()))
        throw InputError(what + " lies on " + whole_[l].device().name() + ", layer " + names_[0] + " on " +
                         whole_[0].device().name() + ": put every layer on one device");
    }
  }
  std::string description() const override { return description_; }
  std::vector<std::string> layer_names() const override { return names_; }
  int64_t examples() const override { return whole_.front().dim(0); }
  Device device() const override { return target_ ? *target_ : whole_.front().device(); }
  std::vector<Tensor> batch(int64_t first, int64_t count) override {
    std::vector<Tensor> out = slices(first, count);
    for (Tensor& t : out)
      if (!t.device().is_cpu()) t = t.to(cpu());
    return out;
  }
  std::vector<Tensor> device_batch(int64_t first, int64_t count) override {
    return on_target(slices(first, count), target_);
  }

 private:
  std::vector<Tensor> slices(int64_t first, int64_t count) {
    check_interrupt();
    std::vector<Tensor> out;
    for (Tensor& t : whole_) {
      const int64_t p = t.dim(1);
      char* base = static_cast<char*>(t.raw()) + static_cast<size_t>(first * p) * dtype_size(t.dtype());
      out.push_back(Tensor::borrow(base, {count, p}, t.dtype(), t.device()));
    }
    return out;
  }

  std::vector<std::string> names_;
  std::string description_;
  std::optional<Device> target_;
  std::vector<Tensor> whole_;  // (n, p) per layer, borrowed
};

nb::list compare(const std::vector<AnyArray>& a, const std::optional<std::vector<AnyArray>>& b,
                 const std::optional<std::vector<std::string>>& names_a,
                 const std::optional<std::vector<std::string>>& names_b, const std::vector<std::string>& measures,
                 const Kernels& kernels, const std::string& estimator, int64_t batch_size, int64_t bootstrap,
                 uint64_t seed, const std::string& device, const std::optional<std::string>& precision,
                 const Parameters& parameters) {
  const CompareSettings s =
      settings_from(measures, kernels, estimator, batch_size, bootstrap, seed, precision, parameters);
  const std::optional<Device> target = target_of(device);
  ArrayFeatureSource source_a(a, layer_names(a.size(), names_a, "network A"), "network A", target);
  std::optional<ArrayFeatureSource> source_b;
  if (b) source_b.emplace(*b, layer_names(b->size(), names_b, "network B"), "network B", target);
  std::vector<SimilarityMatrix> matrices;
  {
    nb::gil_scoped_release release;
    matrices = input_errors([&] {
      return waiting_for(source_a.device(), [&] { return compare_layers(source_a, source_b ? &*source_b : nullptr, s); });
    });
  }
  return to_list(matrices);
}

// Which layer is which over two or more networks: each a list of arrays (one per layer, named
// by `names`) or a ModelCore run over `images`. Returns (rows, pairs, matrices): one dict per
// measure (CKA per kernel), the ordered pairs (a, b) and each pair's matrices, as
// identify_layers gives them.
nb::tuple identify(const std::vector<nb::object>& networks, const std::vector<std::string>& descriptions,
                   const std::vector<std::optional<std::vector<std::string>>>& names, const nb::object& images,
                   const std::vector<std::string>& measures, const Kernels& kernels, const std::string& estimator,
                   int64_t batch_size, int64_t examples, int64_t bootstrap, uint64_t seed, const std::string& device,
                   const std::optional<std::string>& precision, const Parameters& parameters) {
  if (networks.size() != descriptions.size() || networks.size() != names.size())
    throw InputError("identify: one description and one list of names (or None) per network");
  CompareSettings s = settings_from(measures, kernels, estimator, batch_size, bootstrap, seed, precision, parameters);
  if (examples < 0) throw InputError("examples must be positive (or None for all), got " + std::to_string(examples));
  s.examples = examples;
  const std::optional<Device> target = target_of(device);
  // The arrays stay referenced here (and by the caller) while their borrowed tensors are read.
  std::vector<std::vector<AnyArray>> arrays(networks.size());
  std::vector<std::unique_ptr<FeatureSource>> sources;
  bool any_model = false;
  for (size_t i = 0; i < networks.size(); ++i) {
    std::unique_ptr<FeatureSource> model = network_features(networks[i], images, descriptions[i], target);
    if (model) {
      any_model = true;
      sources.push_back(std::move(model));
    } else if (nb::try_cast(networks[i], arrays[i])) {
      sources.push_back(std::make_unique<ArrayFeatureSource>(
          arrays[i], layer_names(arrays[i].size(), names[i], descriptions[i]), descriptions[i], target));
    } else {
      throw InputError(descriptions[i] + ": a network is a list of per-layer arrays or a convlab.Model");
    }
  }
  std::vector<FeatureSource*> pointers;
  std::vector<Device> devices;
  for (const auto& source : sources) {
    pointers.push_back(source.get());
    devices.push_back(source->device());
  }
  std::vector<IdentifyRow> rows;
  std::vector<std::vector<SimilarityMatrix>> matrices;
  {
    nb::gil_scoped_release release;
    // The networks' forward passes run under the lock that keeps a model to one thread; their
    // sources are released under it too (each undoes its batchnorm folding).
    std::unique_lock<std::mutex> lock;
    if (any_model) lock = std::unique_lock<std::mutex>(forward_mutex());
    try {
      rows = input_errors([&] {
        return waiting_for(devices, [&] { return identify_layers(pointers, s, &matrices); });
      });
    } catch (...) {
      sources.clear();
      throw;
    }
    sources.clear();
  }
  nb::list row_list;
  for (const IdentifyRow& r : rows) {
    nb::dict d;
    d["measure"] = r.measure;
    d["accuracy"] = r.accuracy;
    d["layers"] = r.layers;
    d["pairs"] = r.pairs;
    d["per_layer"] = numpy_matrix(r.per_layer, 1, r.layers);
    row_list.append(d);
  }
  nb::list pair_list, matrix_list;
  for (const auto& [a, b] : identify_pairs(networks.size())) pair_list.append(nb::make_tuple(a, b));
  for (const std::vector<SimilarityMatrix>& pair : matrices) {
    nb::list list;
    for (const SimilarityMatrix& m : pair) {
      nb::dict d = to_dict(m);
      d["label"] = identify_label(m);
      list.append(d);
    }
    matrix_list.append(list);
  }
  return nb::make_tuple(row_list, pair_list, matrix_list);
}

// The streaming comparison with its device choice; its add() borrows the arrays of one batch.
class Comparison {
 public:
  Comparison(const std::vector<std::string>& names_a, const std::optional<std::vector<std::string>>& names_b,
             const std::vector<std::string>& measures, const Kernels& kernels, const std::string& estimator,
             int64_t bootstrap, uint64_t seed, const std::string& device, const std::optional<std::string>& precision,
             const Parameters& parameters)
      : target_(target_of(device)),
        comparison_(input_errors([&] {
          return StreamingComparison(names_a, names_b.value_or(std::vector<std::string>{}),
                                     settings_from(measures, kernels, estimator, 1, bootstrap, seed, precision,
                                                   parameters));
        })) {
    if (names_b && names_b->empty()) throw InputError("network B needs at least one layer");
  }

  void add(const std::vector<AnyArray>& a, const std::optional<std::vector<AnyArray>>& b) {
    std::vector<Tensor> ta = borrow_all(a, "A"), tb;
    if (b) tb = borrow_all(*b, "B");
    nb::gil_scoped_release release;
    const Device device = ta.empty() ? cpu() : ta.front().device();
    input_errors([&] {
      waiting_for(device, [&] {
        ta = on_target(std::move(ta), target_);
        tb = on_target(std::move(tb), target_);
        comparison_.add(ta, tb);
      });
    });
  }

  nb::list result() const {
    std::vector<SimilarityMatrix> matrices;
    {
      nb::gil_scoped_release release;
      matrices = input_errors([&] { return comparison_.result(); });
    }
    return to_list(matrices);
  }

  int64_t batches() const { return comparison_.batches(); }
  int64_t examples() const { return comparison_.examples(); }
  std::string device() const { return comparison_.device().name(); }

 private:
  static std::vector<Tensor> borrow_all(const std::vector<AnyArray>& arrays, const char* network) {
    std::vector<Tensor> out;
    for (size_t l = 0; l < arrays.size(); ++l)
      out.push_back(borrow_features(arrays[l], "layer " + std::to_string(l) + " of network " + network));
    return out;
  }

  std::optional<Device> target_;
  StreamingComparison comparison_;
};

}  // namespace

void bind_analysis(nb::module_& m) {
  m.def("compare", &compare, nb::arg("a"), nb::arg("b").none(), nb::arg("names_a").none(), nb::arg("names_b").none(),
        nb::arg("measures"), nb::arg("kernels"), nb::arg("estimator"), nb::arg("batch_size"), nb::arg("bootstrap"),
        nb::arg("seed"), nb::arg("device"), nb::arg("precision").none(), nb::arg("parameters") = Parameters{},
        "Every layer of A against every layer of B (b None: A against itself) in batches of batch_size, as "
        "convlab-analyze does; arrays are (n, p) float32/float64, C-contiguous. Returns one dict per matrix. "
        "Internal: use convlab.cka_matrix.");
  m.def("identify", &identify, nb::arg("networks"), nb::arg("descriptions"), nb::arg("names"),
        nb::arg("images").none(), nb::arg("measures"), nb::arg("kernels"), nb::arg("estimator"),
        nb::arg("batch_size"), nb::arg("examples"), nb::arg("bootstrap"), nb::arg("seed"), nb::arg("device"),
        nb::arg("precision").none(), nb::arg("parameters") = Parameters{},
        "Which layer is which over two or more networks (lists of (n, p) arrays or ModelCores run over uint8 "
        "images (n, 3, 32, 32)): (rows, ordered pairs, each pair's matrices). Internal: use convlab.identify.");
  nb::class_<Comparison>(m, "ComparisonCore",
                         "The streaming accumulator behind convlab.Comparison (internal: use that).")
      .def(nb::init<const std::vector<std::string>&, const std::optional<std::vector<std::string>>&,
                    const std::vector<std::string>&, const Kernels&, const std::string&, int64_t, uint64_t,
                    const std::string&, const std::optional<std::string>&, const Parameters&>(),
           nb::arg("names_a"), nb::arg("names_b").none(), nb::arg("measures"), nb::arg("kernels"),
           nb::arg("estimator"), nb::arg("bootstrap"), nb::arg("seed"), nb::arg("device"), nb::arg("precision").none(),
           nb::arg("parameters") = Parameters{})
      .def("add", &Comparison::add, nb::arg("a"), nb::arg("b").none(),
           "One batch: the features of the same examples at every layer of A (and of B).")
      .def("result", &Comparison::result, "One dict per matrix, from the batches added so far.")
      .def_prop_ro("batches", &Comparison::batches)
      .def_prop_ro("examples", &Comparison::examples)
      .def_prop_ro("device", &Comparison::device);
}

}  // namespace convlab::python
