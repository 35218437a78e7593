// Checkpoints and trained networks from Python: load_checkpoint reads a safetensors file into
// numpy arrays; ModelCore runs a checkpoint's network over uint8 images as `convlab-analyze
// features` does (framework/analysis/feature_export.cpp): eval mode, the evaluation's
// normalisation (assemble_batch without augmentation), batch by batch. For identify: a
// ModelCore as a feature source, a run folder's final checkpoint, and the CLI's test images.
#include <fmt/core.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "bindings.h"
#include "framework/analysis/evolution.h"
#include "framework/analysis/feature_export.h"
#include "framework/analysis/model_loader.h"
#include "framework/autograd/variable.h"
#include "framework/backend/cuda_device.h"
#include "framework/data/cifar10.h"
#include "framework/io/safetensors.h"
#include "framework/train/batches.h"
#include "models/registry.h"

namespace convlab::python {

namespace {

// numpy's type for a safetensors dtype; numpy has none for BF16 and the 8-bit floats.
std::optional<nb::dlpack::dtype> numpy_dtype(const std::string& name) {
  using Code = nb::dlpack::dtype_code;
  static const std::map<std::string, std::pair<Code, uint8_t>> types = {
      {"BOOL", {Code::Bool, 8}},   {"U8", {Code::UInt, 8}},   {"I8", {Code::Int, 8}},     {"U16", {Code::UInt, 16}},
      {"I16", {Code::Int, 16}},    {"F16", {Code::Float, 16}}, {"U32", {Code::UInt, 32}}, {"I32", {Code::Int, 32}},
      {"F32", {Code::Float, 32}},  {"U64", {Code::UInt, 64}}, {"I64", {Code::Int, 64}},   {"F64", {Code::Float, 64}}};
  const auto it = types.find(name);
  if (it == types.end()) return std::nullopt;
  return nb::dlpack::dtype{static_cast<uint8_t>(it->second.first), it->second.second, 1};
}

// A numpy array that takes over the array's bytes (no copy).
nb::object numpy_array(NamedArray&& array, const std::string& file) {
  const std::optional<nb::dlpack::dtype> dtype = numpy_dtype(array.dtype);
  if (!dtype)
    throw InputError(file + ": tensor '" + message_excerpt(array.name) + "' is " + array.dtype +
                     ", which numpy has no type for: read it with safetensors.torch or safetensors.flax");
  auto* bytes = new std::vector<uint8_t>(std::move(array.bytes));
  nb::capsule owner(bytes, [](void* p) noexcept { delete static_cast<std::vector<uint8_t>*>(p); });
  bytes->reserve(1);  // an array of no elements still needs an address
  const std::vector<size_t> shape(array.shape.begin(), array.shape.end());
  return nb::cast(nb::ndarray<nb::numpy>(bytes->data(), shape.size(), shape.data(), owner, nullptr, *dtype));
}

nb::tuple load_checkpoint(const std::string& path) {
  SafetensorsFile file;
  {
    nb::gil_scoped_release release;
    file = input_errors([&] { return read_safetensors(path); });
  }
  nb::dict tensors;
  for (NamedArray& array : file.arrays) {
    const std::string name = array.name;
    tensors[name.c_str()] = numpy_array(std::move(array), path);
  }
  return nb::make_tuple(tensors, file.metadata);
}

// Images as the Python layer hands them over: planar RGB, as convlab stores CIFAR-10.
using Images = nb::ndarray<const uint8_t, nb::shape<-1, 3, 32, 32>, nb::c_contig, nb::device::cpu>;

// The rows of one output, (n, p) float32, filled batch by batch without the GIL and handed to
// numpy at the end.
struct HostRows {
  std::unique_ptr<float[]> values;
  int64_t rows = 0, cols = 0;

  // Rows [first, first + count) from `t` (count, ...) f32 in memory order, as the export
  // writes them; the first batch sets the width.
  void copy_batch(const Tensor& t, int64_t first, int64_t count, int64_t n, const std::string& name) {
    CONVLAB_CHECK(t.dtype() == DType::f32, "{}: features are handed over as float32; the model gave {}", name,
                  t.describe());
    const int64_t width = t.numel() / count;
    if (!values) {
      values.reset(new float[static_cast<size_t>(n * width)]);
      rows = n;
      cols = width;
    }
    CONVLAB_CHECK(width == cols, "layer '{}' changed shape between batches", name);
    copy_bytes(values.get() + first * cols, cpu(), t.raw(), t.device(),
               static_cast<size_t>(count * cols) * sizeof(float));
  }

  nb::object to_numpy() && {
    float* data = values.release();
    nb::capsule owner(data, [](void* p) noexcept { delete[] static_cast<float*>(p); });
    return nb::cast(nb::ndarray<nb::numpy, float, nb::ndim<2>>(
        data, {static_cast<size_t>(rows), static_cast<size_t>(cols)}, owner));
  }
};

// Planar uint8 images on `device`, as the batch assembler reads them: borrowed on the CPU,
// copied to a GPU. Their labels are never read.
DeviceImageSet image_set(const uint8_t* pixels, int64_t n, Device device) {
  DeviceImageSet set{Tensor::borrow(const_cast<uint8_t*>(pixels), {n, 3, 32, 32}, DType::u8, cpu()),
                     Tensor::zeros({n}, DType::u8, cpu())};
  if (!device.is_cpu()) set = {set.images.to(device), set.labels.to(device)};
  return set;
}

// A checkpoint's network on a device, in eval mode: what convlab.Model holds.
class Network {
 public:
  Network(const std::string& path, const std::string& device)
      : device_(device == "auto" ? (cuda_available() ? cuda_device(0) : cpu()) : device_named(device)) {
    nb::gil_scoped_release release;
    loaded_ = input_errors([&] { return load_model(path, models::make_model, device_, models::state_size); });
  }

  nb::object logits(const Images& images, int64_t batch_size) {
    std::vector<HostRows> out = run(images, {}, true, batch_size);
    return std::move(out.back()).to_numpy();
  }

  std::vector<nb::object> features(const Images& images, const std::vector<size_t>& layers, int64_t batch_size) {
    const size_t count = loaded_.model->feature_names().size();
    for (size_t l : layers)
      if (l >= count) throw InputError("layer index " + std::to_string(l) + " is out of range: the model has " +
                                       std::to_string(count) + " layers");
    std::vector<HostRows> rows = run(images, layers, false, batch_size);
    std::vector<nb::object> out;
    for (HostRows& r : rows) out.push_back(std::move(r).to_numpy());
    return out;
  }

  std::vector<std::string> layers() const { return loaded_.model->feature_names(); }
  const std::map<std::string, std::string>& metadata() const { return loaded_.metadata; }
  std::optional<int64_t> epoch() const { return loaded_.epoch < 0 ? std::nullopt : std::optional(loaded_.epoch); }
  std::string device() const { return device_.name(); }
  std::string path() const { return loaded_.path.string(); }
  std::string description() const { return loaded_.model->description(); }
  nn::Model& model() { return *loaded_.model; }
  Device device_handle() const { return device_; }

 private:
  // The features of `layers` (indices into layers()) and, with `with_logits`, the logits
  // last; Ctrl-C is checked before every batch.
  std::vector<HostRows> run(const Images& images, const std::vector<size_t>& layers, bool with_logits,
                            int64_t batch_size) {
    const int64_t n = static_cast<int64_t>(images.shape(0));
    if (n == 0) throw InputError("no images: pass an array of one or more images");
    if (batch_size < 1) throw InputError("batch_size must be positive, got " + std::to_string(batch_size));
    const std::vector<std::string> names = loaded_.model->feature_names();
    std::vector<HostRows> out(layers.size() + (with_logits ? 1 : 0));
    nb::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(forward_mutex());
    const DeviceImageSet set = image_set(images.data(), n, device_);
    const Tensor order = identity_order(n, device_);
    const kernels::AugmentConfig normalise = kernels::cifar10_augment_config(false, false, false);
    nn::Model& model = *loaded_.model;
    NoGradGuard no_grad;
    for (int64_t first = 0; first < n; first += batch_size) {
      check_interrupt();
      const int64_t count = std::min(batch_size, n - first);
      Batch batch = assemble_batch(set, order, first, count, normalise, /*augment=*/false, 0, 0);
      std::vector<Variable> features;
      nn::ForwardContext ctx;
      if (!layers.empty()) ctx.features = &features;
      const Variable logits = model.forward(Variable(std::move(batch.images)), ctx);
      CONVLAB_CHECK(layers.empty() || features.size() == names.size(), "the model reported {} features for {} names",
                    features.size(), names.size());
      for (size_t k = 0; k < layers.size(); ++k)
        out[k].copy_batch(features[layers[k]].value(), first, count, n, names[layers[k]]);
      if (with_logits) out.back().copy_batch(logits.value(), first, count, n, "logits");
    }
    return out;
  }

  Device device_;
  LoadedModel loaded_;
};

// A Network over images as identify reads it: ModelFeatureSource (the features convlab-analyze
// compares), which folds each BatchNorm into its convolution at the first batch; the folding
// is undone when the source goes, so that the Model's own calls give the values they gave
// before. The caller keeps the images alive and holds forward_mutex() for every call.
class NetworkFeatures final : public FeatureSource {
 public:
  NetworkFeatures(Network& network, const uint8_t* images, int64_t n, std::string description,
                  std::optional<Device> target)
      : network_(network),
        target_(target),
        images_(image_set(images, n, network.device_handle())),
        source_(network.model(), images_, std::move(description)) {}
  ~NetworkFeatures() override {
    if (used_) network_.model().unfold_batchnorm();
  }
  std::string description() const override { return source_.description(); }
  std::vector<std::string> layer_names() const override { return source_.layer_names(); }
  int64_t examples() const override { return source_.examples(); }
  Device device() const override { return target_ ? *target_ : source_.device(); }
  std::vector<Tensor> batch(int64_t first, int64_t count) override {
    check_interrupt();
    used_ = true;
    return source_.batch(first, count);
  }
  std::vector<Tensor> device_batch(int64_t first, int64_t count) override {
    check_interrupt();
    used_ = true;
    std::vector<Tensor> out = source_.device_batch(first, count);
    if (target_)
      for (Tensor& t : out)
        if (!(t.device() == *target_)) t = t.to(*target_);
    return out;
  }

 private:
  Network& network_;
  std::optional<Device> target_;
  DeviceImageSet images_;
  ModelFeatureSource source_;
  bool used_ = false;
};

// A checkpoint, or a run folder's final checkpoint (as convlab-analyze identify takes them).
std::string network_file(const std::string& input) {
  return input_errors([&] {
    return std::filesystem::is_directory(input) ? list_checkpoints(input).back().file.string() : input;
  });
}

// The test images convlab-analyze takes for --examples N (0: all), in its order: the first N
// of one fixed permutation of CIFAR-10's test split. Returns (images (n, 3, 32, 32) uint8,
// the data's description).
nb::tuple cifar10_test_images(const std::optional<std::string>& data, const std::optional<std::string>& cache_dir,
                              int64_t examples) {
  Cifar10 cifar;
  {
    nb::gil_scoped_release release;
    cifar = input_errors([&] {
      const std::optional<std::filesystem::path> given =
          data ? std::optional<std::filesystem::path>(*data) : std::nullopt;
      return load_cifar10(find_cifar10(given), cache_dir ? std::filesystem::path(*cache_dir) : default_cache_dir());
    });
  }
  const ExampleCount count = count_examples(examples, cifar.test.size(), "test images");
  if (examples > 0 && !count.warning.empty()) fmt::print(stderr, "convlab: warning: {}\n", count.warning);
  const std::vector<int32_t> picked = choose_examples(cifar.test.size(), count.count, 0);
  const size_t bytes = static_cast<size_t>(kCifarImageBytes);
  auto* pixels = new std::vector<uint8_t>(picked.size() * bytes);
  for (size_t i = 0; i < picked.size(); ++i)
    std::copy_n(cifar.test.image(picked[i]), bytes, pixels->data() + i * bytes);
  pixels->reserve(1);  // an array of no images still needs an address
  nb::capsule owner(pixels, [](void* p) noexcept { delete static_cast<std::vector<uint8_t>*>(p); });
  nb::object images = nb::cast(nb::ndarray<nb::numpy, uint8_t, nb::ndim<4>>(
      pixels->data(), {picked.size(), size_t{3}, size_t{32}, size_t{32}}, owner));
  return nb::make_tuple(images, cifar.source_description);
}

}  // namespace

// Forward passes run one at a time: with the GIL released, two Python threads could otherwise
// drive one model, or one GPU's context, at once.
std::mutex& forward_mutex() {
  static std::mutex mutex;
  return mutex;
}

std::unique_ptr<FeatureSource> network_features(nb::handle network, nb::handle images, const std::string& description,
                                                std::optional<Device> target) {
  Network* core = nullptr;
  if (network.is_none() || !nb::try_cast(network, core) || core == nullptr) return nullptr;
  Images pixels;
  if (images.is_none() || !nb::try_cast(images, pixels, false))
    throw InputError(description + " is a network run over images: pass images, uint8 (n, 32, 32, 3) or "
                     "(n, 3, 32, 32)");
  const int64_t n = static_cast<int64_t>(pixels.shape(0));
  if (n == 0) throw InputError("no images: pass an array of one or more images");
  return std::make_unique<NetworkFeatures>(*core, pixels.data(), n, description, target);
}

void bind_models(nb::module_& m) {
  m.def("load_checkpoint", &load_checkpoint, nb::arg("path"),
        "(tensors, metadata) of a safetensors file: name -> numpy array, and the metadata as str -> str. "
        "Internal: use convlab.load_checkpoint.");
  m.def("network_file", &network_file, nb::arg("path"),
        "A checkpoint file as given, or a run folder's final checkpoint. Internal: use convlab.identify.");
  m.def("cifar10_test_images", &cifar10_test_images, nb::arg("data").none(), nb::arg("cache_dir").none(),
        nb::arg("examples"),
        "(images (n, 3, 32, 32) uint8, source): CIFAR-10's test images as convlab-analyze --examples takes them. "
        "Internal: use convlab.identify.");
  nb::class_<Network>(m, "ModelCore", "A checkpoint's network on a device (internal: use convlab.Model).")
      .def(nb::init<const std::string&, const std::string&>(), nb::arg("path"), nb::arg("device"))
      .def("logits", &Network::logits, nb::arg("images"), nb::arg("batch_size"),
           "Logits (n, classes) float32 of uint8 images (n, 3, 32, 32), C-contiguous.")
      .def("features", &Network::features, nb::arg("images"), nb::arg("layers"), nb::arg("batch_size"),
           "The features (n, p) float32 of the layers at these indices of .layers, in that order.")
      .def_prop_ro("layers", &Network::layers)
      .def_prop_ro("metadata", &Network::metadata)
      .def_prop_ro("epoch", &Network::epoch)
      .def_prop_ro("device", &Network::device)
      .def_prop_ro("path", &Network::path)
      .def_prop_ro("description", &Network::description);
}

}  // namespace convlab::python
