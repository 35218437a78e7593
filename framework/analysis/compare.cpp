#include "framework/analysis/compare.h"

#include <chrono>
#include <memory>

#include "framework/cka/accumulator.h"
#include "framework/cka/centring.h"

#if CONVLAB_WITH_CUDA
#include "framework/backend/cuda/cuda_context.h"
#include "framework/cka/cuda/cuda_accumulator.h"
#endif

namespace convlab {
namespace {

// One setting's minibatch CKA, fed the features of one batch at a time (b empty when A is
// compared with itself).
class LayerCka {
 public:
  virtual ~LayerCka() = default;
  virtual void add_batch(const std::vector<Tensor>& a, const std::vector<Tensor>& b) = 0;
  virtual std::vector<double> result() const = 0;
};

std::vector<cka::FeatureView> views(const std::vector<Tensor>& layers, const std::vector<std::string>& names) {
  std::vector<cka::FeatureView> out;
  for (size_t i = 0; i < layers.size(); ++i) {
    const Tensor& t = layers[i];
    if (t.dtype() == DType::f64)
      out.emplace_back(t.host<double>(), t.dim(0), t.dim(1), names[i]);
    else
      out.emplace_back(t.host<float>(), t.dim(0), t.dim(1), names[i]);
  }
  return out;
}

class HostCka final : public LayerCka {
 public:
  HostCka(const std::vector<std::string>& names_a, const std::vector<std::string>* names_b, const cka::Options& o)
      : names_a_(names_a),
        names_b_(names_b ? *names_b : std::vector<std::string>{}),
        acc_(names_b ? cka::CkaAccumulator(static_cast<int64_t>(names_a.size()),
                                           static_cast<int64_t>(names_b->size()), o)
                     : cka::CkaAccumulator(static_cast<int64_t>(names_a.size()), o)) {}
  void add_batch(const std::vector<Tensor>& a, const std::vector<Tensor>& b) override {
    if (acc_.self())
      acc_.add_batch(views(a, names_a_));
    else
      acc_.add_batch(views(a, names_a_), views(b, names_b_));
  }
  std::vector<double> result() const override { return acc_.result(); }

 private:
  std::vector<std::string> names_a_, names_b_;
  cka::CkaAccumulator acc_;
};

#if CONVLAB_WITH_CUDA
std::vector<cka::DeviceFeatureView> device_views(const std::vector<Tensor>& layers,
                                                 const std::vector<std::string>& names) {
  std::vector<cka::DeviceFeatureView> out;
  for (size_t i = 0; i < layers.size(); ++i) out.emplace_back(layers[i], names[i]);
  return out;
}

// Features that stay on the GPU; the Gram products use TF32 when the device allows it for
// convolutions (CudaContext::allow_tf32).
class GpuCka final : public LayerCka {
 public:
  GpuCka(Device device, const std::vector<std::string>& names_a, const std::vector<std::string>* names_b,
         const cka::Options& o)
      : names_a_(names_a), names_b_(names_b ? *names_b : std::vector<std::string>{}) {
    CudaContext& context = cuda_context(device);
    const cka::GramPrecision precision =
        context.allow_tf32() ? cka::GramPrecision::tf32 : cka::GramPrecision::fp32;
    const int64_t la = static_cast<int64_t>(names_a.size());
    acc_ = names_b ? std::make_unique<cka::CudaCkaAccumulator>(context, la, static_cast<int64_t>(names_b->size()), o,
                                                               precision)
                   : std::make_unique<cka::CudaCkaAccumulator>(context, la, o, precision);
  }
  void add_batch(const std::vector<Tensor>& a, const std::vector<Tensor>& b) override {
    if (acc_->self())
      acc_->add_batch(device_views(a, names_a_));
    else
      acc_->add_batch(device_views(a, names_a_), device_views(b, names_b_));
  }
  std::vector<double> result() const override { return acc_->result(); }

 private:
  std::vector<std::string> names_a_, names_b_;
  std::unique_ptr<cka::CudaCkaAccumulator> acc_;
};
#endif

// CKA runs where the features are: on the GPU when a model left them there (both sources on
// the same device), on the CPU otherwise.
std::unique_ptr<LayerCka> make_layer_cka(bool on_gpu, Device device, const std::vector<std::string>& names_a,
                                         const std::vector<std::string>* names_b, const cka::Options& o) {
  if (!on_gpu) return std::make_unique<HostCka>(names_a, names_b, o);
#if CONVLAB_WITH_CUDA
  return std::make_unique<GpuCka>(device, names_a, names_b, o);
#else
  CONVLAB_FAIL("features on {} need the CUDA CKA, and this convlab was built without CUDA", device.name());
#endif
}

}  // namespace

std::vector<CkaMatrix> compare_layers(FeatureSource& a, FeatureSource* b, const std::vector<cka::Options>& settings,
                                      int64_t batch_size, int64_t examples) {
  const auto start = std::chrono::steady_clock::now();
  CONVLAB_CHECK(!settings.empty(), "compare_layers: no CKA settings");
  CONVLAB_CHECK(batch_size >= 1, "the CKA batch size must be positive, got {}", batch_size);
  CONVLAB_CHECK(!b || b->examples() == a.examples(), "{} has {} examples but {} has {}: CKA compares the same examples",
                a.description(), a.examples(), b->description(), b->examples());
  const int64_t n = examples > 0 ? std::min(examples, a.examples()) : a.examples();
  const std::vector<std::string> names_a = a.layer_names();
  const std::vector<std::string> names_b = b ? b->layer_names() : names_a;
  const bool on_gpu = a.device().is_cuda() && (!b || b->device() == a.device());
  std::vector<std::unique_ptr<LayerCka>> accumulators;
  for (const cka::Options& o : settings)
    accumulators.push_back(make_layer_cka(on_gpu, a.device(), names_a, b ? &names_b : nullptr, o));
  const int64_t smallest = cka::min_examples(settings.front().estimator);
  int64_t used = 0;
  for (int64_t first = 0; first < n; first += batch_size) {
    const int64_t count = std::min(batch_size, n - first);
    if (count < smallest && used > 0) break;  // a tail too small for the estimator
    const std::vector<Tensor> fa = on_gpu ? a.device_batch(first, count) : a.batch(first, count);
    const std::vector<Tensor> fb =
        !b ? std::vector<Tensor>{} : on_gpu ? b->device_batch(first, count) : b->batch(first, count);
    for (auto& acc : accumulators) acc->add_batch(fa, fb);
    used += count;
  }
  CONVLAB_CHECK(used >= smallest, "CKA needs at least {} examples, got {}", smallest, used);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<CkaMatrix> out;
  for (size_t s = 0; s < settings.size(); ++s) {
    CkaMatrix m;
    m.rows = static_cast<int64_t>(names_a.size());
    m.cols = static_cast<int64_t>(names_b.size());
    m.values = accumulators[s]->result();
    m.row_names = names_a;
    m.col_names = names_b;
    m.row_source = a.description();
    m.col_source = b ? b->description() : a.description();
    m.options = settings[s];
    m.examples = used;
    m.batch_size = batch_size;
    m.seconds = seconds;
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace convlab
