#include "framework/analysis/measure_run.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "framework/analysis/device_memory.h"
#include "framework/analysis/permutation_null.h"
#include "framework/backend/cuda_device.h"
#include "framework/cca/cca.h"
#include "framework/cka/accumulator.h"
#include "framework/cka/centring.h"
#include "framework/cka/parallel.h"
#include "framework/knn/cknna.h"
#include "framework/knn/mutual_knn.h"
#include "framework/procrustes/procrustes.h"
#include "framework/ridge/ridge.h"
#include "framework/rsa/rsa.h"
#include "framework/stats/permutation_test.h"

#if CONVLAB_WITH_CUDA
#include "framework/backend/cuda/cuda_context.h"
#include "framework/cka/cuda/cuda_accumulator.h"
#include "framework/cka/cuda/range_scale.h"
#include "framework/linalg/cuda/device_grams.h"
#include "framework/linalg/cuda/device_pair_products.h"
#include "framework/procrustes/cuda/cuda_procrustes.h"
#include "framework/rsa/cuda/cuda_rsa.h"
#endif

namespace convlab::analysis_detail {

namespace {

// What a measure is called in messages, why its minimum batch is what it is, and what a batch
// below its advised size does to it.
struct LimitText {
  std::string name;
  std::string below_minimum;
  std::string above_maximum;
  std::string below_advised;
};

LimitText limit_text(Measure measure, const CompareSettings& s) {
  const cka::Estimator estimator = s.estimator;
  const std::string knn = fmt::format("{} neighbours (--knn) among the other examples of a batch", s.knn);
  const std::string eigen = "a batch of k examples needs eigendecompositions of k x k matrices, which LAPACK takes "
                            "only up to a size";
  switch (measure) {
    case Measure::mutual_knn: return {"mutual k-NN", "it finds " + knn, "", ""};
    case Measure::cknna: return {"CKNNA", "it finds " + knn + ", and its debiased HSIC needs 4", "", ""};
    case Measure::svcca:
      return {"SVCCA", "at 2, the centred examples span one direction, always perfectly correlated", eigen, ""};
    case Measure::pwcca:
      return {"PWCCA", "at 2, the centred examples span one direction, always perfectly correlated", eigen, ""};
    case Measure::ridge:
      return {"linear predictivity", "each example is predicted from the others, and 2 centred examples are one "
              "direction", eigen, ""};
    case Measure::rsa:
      return {"RSA", "at 2, an RDM holds one distance, and a rank correlation needs 3", "",
              "a rank correlation of 3 distances per batch reads related layers low (Gaussian layers: 0.27 where "
              "batches of 1000 read 0.35)"};
    case Measure::procrustes:
      return {"Procrustes", "at 2, unrelated layers measure 0: two centred examples are one direction, always aligned",
              // above the maximum: why
              "a batch of k examples needs eigendecompositions of k x k matrices, which LAPACK and cuSOLVER take only "
              "up to a size",
              "unrelated layers of p features read about k / (2p) while k < p, and the distance keeps rising with k "
              "(Gaussian layers of 256 to 1024 features: more than 0.1 below their distance in batches of 1000); "
              "compare distances only at equal batch sizes"};
    default:
      if (estimator == cka::Estimator::debiased)
        return {"debiased CKA", "its HSIC estimator divides by n(n - 3), which is 0 at 3", "", ""};
      return {"biased CKA",
              "at 2, every layer's centred Gram is the same rank-one matrix up to scale: RBF CKA is 1 for every pair "
              "of layers, linear CKA close to 1",
              "",
              "unrelated layers of p features read about p / (p + k), not 0 (Gaussian layers of 1024 features: more "
              "than 0.05 above their CKA in batches of 1000); --estimator debiased has no such bias"};
  }
}

// The measures of an analysis, CKA's under its estimator.
std::vector<std::pair<BatchLimits, LimitText>> limits_of(const CompareSettings& s) {
  std::vector<std::pair<BatchLimits, LimitText>> out;
  for (Measure m : s.measures) out.emplace_back(batch_limits(m, s), limit_text(m, s));
  return out;
}

// The largest magnitude of host values; NaN counts as infinite (no scale: the measures report it).
template <class T>
double host_largest(const T* x, int64_t count) {
  double largest = 0.0;
#pragma omp parallel for reduction(max : largest) schedule(static) if (count >= cka::kParallelMin)
  for (int64_t i = 0; i < count; ++i) {
    const double a = std::abs(static_cast<double>(x[i]));
    if (!(a <= largest)) largest = std::isnan(a) ? INFINITY : a;  // NaN: no scale, the measures report it
  }
  return largest;
}

void scale_by_power_of_two(Tensor& t, int exponent) {
  const int64_t count = t.numel();
  if (t.device().is_cpu() && t.dtype() == DType::f64) {
    double* x = t.host<double>();
    if (exponent > 1000) {  // subnormal features: 2^exponent itself is beyond f64
#pragma omp parallel for schedule(static) if (count >= cka::kParallelMin)
      for (int64_t i = 0; i < count; ++i) x[i] = std::ldexp(x[i], exponent);
      return;
    }
    const double factor = std::ldexp(1.0, exponent);
#pragma omp parallel for schedule(static) if (count >= cka::kParallelMin)
    for (int64_t i = 0; i < count; ++i) x[i] *= factor;
  } else if (t.device().is_cpu() && t.dtype() == DType::f32) {
    float* x = t.host<float>();
    const double factor = std::ldexp(1.0, exponent);  // may lie outside f32's range
#pragma omp parallel for schedule(static) if (count >= cka::kParallelMin)
    for (int64_t i = 0; i < count; ++i) x[i] = static_cast<float>(static_cast<double>(x[i]) * factor);
  } else {
#if CONVLAB_WITH_CUDA
    if (t.dtype() == DType::f32)
      cka_cuda::scale_by_power_of_two(t.data<float>(), count, exponent, cuda_context(t.device()).stream());
#endif
  }
}

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

// The CPU accumulators all take add_batch(a) or add_batch(a, b) on views.
template <class Accumulator>
void feed(Accumulator& acc, bool self, const std::vector<Tensor>& a, const std::vector<Tensor>& b,
          const std::vector<std::string>& names_a, const std::vector<std::string>& names_b) {
  if (self)
    acc.add_batch(views(a, names_a));
  else
    acc.add_batch(views(a, names_a), views(b, names_b));
}



// The CPU's Gram products are fp32 for f32 features and fp64 for f64 ones.
class HostRun : public MeasureRun {
 public:
  std::string precision() const override { return f32_seen_ || !f64_seen_ ? "cpu fp32" : "cpu fp64"; }

 protected:
  void note_types(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
    for (const auto* layers : {&a, &b})
      for (const Tensor& t : *layers) (t.dtype() == DType::f64 ? f64_seen_ : f32_seen_) = true;
  }

 private:
  bool f32_seen_ = false, f64_seen_ = false;
};

class HostCka final : public HostRun {
 public:
  HostCka(const LayerNames& names, const CompareSettings& s)
      : names_(names), acc_(static_cast<int64_t>(names.a.size()), names.layers_b(), s.kernels, s.estimator) {}
  void add_batch(const std::vector<Tensor>& a, const std::vector<Tensor>& b) override {
    note_types(a, b);
    feed(acc_, names_.self, a, b, names_.a, names_.b);
  }
  size_t outputs() const override { return acc_.kernels().size(); }
  const stats::BatchTerms& terms(size_t o) const override { return acc_.terms(o); }
  std::vector<double> value(const std::vector<double>& mean, bool warn) const override {
    return acc_.pairs().cka(mean, warn);
  }
  void release_workspace() override { acc_.release_workspace(); }

 private:
  LayerNames names_;
  cka::CkaAccumulator acc_;
};

class HostRsa final : public HostRun {
 public:
  explicit HostRsa(const LayerNames& names) : names_(names), acc_(static_cast<int64_t>(names.a.size()), names.layers_b()) {}
  void add_batch(const std::vector<Tensor>& a, const std::vector<Tensor>& b) override {
    note_types(a, b);
    feed(acc_, names_.self, a, b, names_.a, names_.b);
  }
  const stats::BatchTerms& terms(size_t) const override { return acc_.terms(); }
  std::vector<double> value(const std::vector<double>& mean, bool) const override { return mean; }
  void release_workspace() override { acc_.release_workspace(); }

 private:
  LayerNames names_;
  rsa::RsaAccumulator acc_;
};

std::vector<std::string> form_names(const std::vector<procrustes::Form>& forms) {
  std::vector<std::string> out;
  for (procrustes::Form f : forms) out.push_back(procrustes::form_name(f));
  return out;
}

class HostProcrustes final : public HostRun {
 public:
  explicit HostProcrustes(const LayerNames& names)
      : names_(names), acc_(static_cast<int64_t>(names.a.size()), names.layers_b()) {}
  void add_batch(const std::vector<Tensor>& a, const std::vector<Tensor>& b) override {
    note_types(a, b);
    feed(acc_, names_.self, a, b, names_.a, names_.b);
  }
  const stats::BatchTerms& terms(size_t) const override { return acc_.terms(); }
  std::vector<double> value(const std::vector<double>& mean, bool) const override { return mean; }
  std::vector<std::string> forms() const override { return form_names(acc_.forms()); }

 private:
  LayerNames names_;
  procrustes::ProcrustesAccumulator acc_;
};

// One batch's features copied from a GPU to the host, once for all the host measures of a
// comparison (batch: the index of the batch they are; -1 before the first).
struct HostCopies {
  int64_t batch = -1;
  std::vector<Tensor> a, b;
};

// The host copies of batch `batch`'s features, made by the first measure that asks for them.
const HostCopies& host_copies(HostCopies& copies, int64_t batch, const std::vector<Tensor>& a,
                              const std::vector<Tensor>& b) {
  if (copies.batch == batch) return copies;
  const auto host = [](const std::vector<Tensor>& layers) {
    std::vector<Tensor> out;
    for (const Tensor& t : layers) out.push_back(t.to(cpu()));  // on_gpu: every layer is on the GPU
    return out;
  };
  copies.a = host(a);
  copies.b = host(b);
  copies.batch = batch;
  return copies;
}

// The measures computed in float64 from each layer's Grams (mutual k-NN, CKNNA, SVCCA, PWCCA,
// ridge), one stats::PairAccumulator each. PairRun holds what they share; HostPairRun feeds
// it features on the CPU, whose Grams the measures share through a linalg::BatchGrams, and
// GpuPairRun (below) layers whose Grams a GPU computes.
class PairRun : public MeasureRun {
 public:
  explicit PairRun(std::unique_ptr<stats::PairAccumulator> acc) : acc_(std::move(acc)) {}
  const stats::BatchTerms& terms(size_t) const override { return acc_->terms(); }
  std::vector<double> value(const std::vector<double>& mean, bool) const override { return acc_->value(mean); }
  std::vector<int64_t> kept_dims() const override {
    const auto* cca = dynamic_cast<const cca::CcaAccumulator*>(acc_.get());
    return cca ? cca->dims() : std::vector<int64_t>{};
  }
  std::vector<std::vector<double>> null_values(size_t) const override { return acc_->null_values(); }

 protected:
  std::unique_ptr<stats::PairAccumulator> acc_;
};

class HostPairRun final : public PairRun {
 public:
  HostPairRun(std::unique_ptr<stats::PairAccumulator> acc, const LayerNames& names)
      : PairRun(std::move(acc)), names_(names) {}
  void add_batch(const std::vector<Tensor>& a, const std::vector<Tensor>& b) override {
    feed(*acc_, names_.self, a, b, names_.a, names_.b);
  }
  std::string precision() const override { return "cpu fp64"; }

 private:
  LayerNames names_;
};

// CKA, RSA or Procrustes with a permutation test: the measure runs where it would, and its
// null is computed on the host in float64 (permutation_null.h) from the same batches: for
// features on a GPU, CKA's from the Grams the GPU computes (GpuGramNull, below), RSA's and
// Procrustes' from the features, copied from the GPU once per batch for both.
class PermutedRun final : public MeasureRun {
 public:
  PermutedRun(std::unique_ptr<MeasureRun> inner, std::unique_ptr<HostNull> null, const LayerNames& names,
              std::shared_ptr<HostCopies> copies)
      : inner_(std::move(inner)), null_(std::move(null)), names_(names), copies_(std::move(copies)) {}
  void add_batch(const std::vector<Tensor>& a, const std::vector<Tensor>& b) override {
    inner_->add_batch(a, b);
    const std::vector<Tensor>* ha = &a;
    const std::vector<Tensor>* hb = &b;
    if (copies_) {
      const HostCopies& host = host_copies(*copies_, batches_, a, b);
      ha = &host.a;
      hb = &host.b;
    }
    null_->add_batch(views(*ha, names_.a), views(*hb, names_.self ? std::vector<std::string>{} : names_.b));
    ++batches_;
  }
  size_t outputs() const override { return inner_->outputs(); }
  const stats::BatchTerms& terms(size_t o) const override { return inner_->terms(o); }
  std::vector<double> value(const std::vector<double>& mean, bool warn) const override {
    return inner_->value(mean, warn);
  }
  std::vector<std::string> forms() const override { return inner_->forms(); }
  std::string precision() const override { return inner_->precision(); }
  void release_workspace() override { inner_->release_workspace(); }
  std::vector<std::vector<double>> null_values(size_t o) const override { return null_->null_values(o); }

 private:
  std::unique_ptr<MeasureRun> inner_;
  std::unique_ptr<HostNull> null_;
  LayerNames names_;
  std::shared_ptr<HostCopies> copies_;
  int64_t batches_ = 0;
};

std::unique_ptr<stats::PairAccumulator> pair_accumulator(Measure measure, const LayerNames& names,
                                                         const CompareSettings& s) {
  const int64_t la = static_cast<int64_t>(names.a.size()), lb = names.layers_b();
  const cca::Reduction reduction{s.svcca_variance, s.svcca_dims};
  switch (measure) {
    case Measure::mutual_knn: return std::make_unique<knn::MutualKnnAccumulator>(la, lb, s.knn);
    case Measure::cknna: return std::make_unique<knn::CknnaAccumulator>(la, lb, s.knn);
    case Measure::svcca: return std::make_unique<cca::CcaAccumulator>(cca::CcaMeasure::svcca, la, lb, reduction);
    case Measure::pwcca: return std::make_unique<cca::CcaAccumulator>(cca::CcaMeasure::pwcca, la, lb, reduction);
    case Measure::ridge: return std::make_unique<ridge::RidgeAccumulator>(la, lb, s.ridge);
    default: CONVLAB_FAIL("{} has no float64 pair accumulator", measure_name(measure));
  }
}

// What the GPU runs of one comparison share: the Grams of each batch's layers (for the
// float64 measures and CKA's null) and one host copy of its features (for RSA's and
// Procrustes' nulls). Null members in a CPU comparison.
struct SharedWork {
  std::shared_ptr<linalg::BatchGrams> host_grams = std::make_shared<linalg::BatchGrams>();
  std::shared_ptr<HostCopies> copies;
  std::shared_ptr<linalg::DeviceBatchGrams> device_grams;
  ReferenceGrams b;  // B's layers' Grams when shared with other comparisons; null members: in the above
};

SharedWork shared_work(bool on_gpu, Device device, const ReferenceGrams* reference) {
  SharedWork out;
  if (reference) out.b = *reference;
  if (!on_gpu) return out;
  out.copies = std::make_shared<HostCopies>();
#if CONVLAB_WITH_CUDA
  out.device_grams = std::make_shared<linalg::DeviceBatchGrams>(cuda_context(device));
#else
  CONVLAB_FAIL("features on {} need the CUDA measures, and this convlab was built without CUDA", device.name());
#endif
  return out;
}

#if CONVLAB_WITH_CUDA
std::vector<cka::DeviceFeatureView> device_views(const std::vector<Tensor>& layers,
                                                 const std::vector<std::string>& names) {
  std::vector<cka::DeviceFeatureView> out;
  for (size_t i = 0; i < layers.size(); ++i) out.emplace_back(layers[i], names[i]);
  return out;
}

template <class Accumulator>
void feed_device(Accumulator& acc, bool self, const std::vector<Tensor>& a, const std::vector<Tensor>& b,
                 const LayerNames& names) {
  if (self)
    acc.add_batch(device_views(a, names.a));
  else
    acc.add_batch(device_views(a, names.a), device_views(b, names.b));
}

// Features that stay on the GPU; the Gram products in the measure's precision (precision_for).
class GpuCka final : public MeasureRun {
 public:
  GpuCka(Device device, const LayerNames& names, const CompareSettings& s)
      : names_(names),
        acc_(cuda_context(device), static_cast<int64_t>(names.a.size()), names.layers_b(), s.kernels, s.estimator,
             precision_for(Measure::cka, s)) {}
  void add_batch(const std::vector<Tensor>& a, const std::vector<Tensor>& b) override {
    feed_device(acc_, names_.self, a, b, names_);
  }
  size_t outputs() const override { return acc_.kernels().size(); }
  const stats::BatchTerms& terms(size_t o) const override { return acc_.terms(o); }
  std::vector<double> value(const std::vector<double>& mean, bool warn) const override {
    return acc_.pairs().cka(mean, warn);
  }
  void release_workspace() override { acc_.release_workspace(); }
  std::string precision() const override { return std::string("cuda ") + cka::precision_name(acc_.precision()); }

 private:
  LayerNames names_;
  cka::CudaCkaAccumulator acc_;
};

class GpuRsa final : public MeasureRun {
 public:
  GpuRsa(Device device, const LayerNames& names, const CompareSettings& s)
      : names_(names),
        precision_(precision_for(Measure::rsa, s)),
        acc_(cuda_context(device), static_cast<int64_t>(names.a.size()), names.layers_b(), precision_) {}
  void add_batch(const std::vector<Tensor>& a, const std::vector<Tensor>& b) override {
    feed_device(acc_, names_.self, a, b, names_);
  }
  const stats::BatchTerms& terms(size_t) const override { return acc_.terms(); }
  std::vector<double> value(const std::vector<double>& mean, bool) const override { return mean; }
  void release_workspace() override { acc_.release_workspace(); }
  std::string precision() const override { return std::string("cuda ") + cka::precision_name(precision_); }

 private:
  LayerNames names_;
  cka::GramPrecision precision_;
  rsa::CudaRsaAccumulator acc_;
};

// The layers of one batch on the GPU as the float64 measures read them (device_grams.h), in
// the pairs' row order: A's, then B's.
// `grams_b`: B's layers' (ReferenceGrams); null: in `grams`.
class DeviceLayers {
 public:
  DeviceLayers(linalg::DeviceBatchGrams& grams, linalg::DeviceBatchGrams* grams_b, int64_t batch,
               const std::vector<Tensor>& a, const std::vector<Tensor>& b, const LayerNames& names) {
    grams.start(batch);
    if (grams_b) grams_b->start(batch);
    for (size_t i = 0; i < a.size(); ++i) views_.emplace_back(a[i], names.a[i]);
    for (size_t j = 0; j < b.size(); ++j) views_.emplace_back(b[j], names.b[j]);
    layers_.reserve(views_.size());
    for (size_t r = 0; r < views_.size(); ++r)
      layers_.emplace_back(views_[r], r >= a.size() && grams_b ? *grams_b : grams);
    for (linalg::DeviceLayerGrams& l : layers_) rows_.push_back(&l);
  }
  const std::vector<linalg::LayerGrams*>& rows() const { return rows_; }

 private:
  std::vector<cka::DeviceFeatureView> views_;  // complete before the layers point at them
  std::vector<linalg::DeviceLayerGrams> layers_;
  std::vector<linalg::LayerGrams*> rows_;
};

// A float64 measure of features on the GPU: the Grams, spectra and copies there, shared by
// the comparison's measures (device_grams.h). SVCCA, PWCCA and ridge run their per-pair
// products there too (device_pair_products.h); the neighbour measures' pair terms (k log k
// per pair, from the neighbour lists) run on the host.
class GpuPairRun final : public PairRun {
 public:
  GpuPairRun(Measure measure, std::unique_ptr<stats::PairAccumulator> acc, const LayerNames& names,
             std::shared_ptr<linalg::DeviceBatchGrams> grams, std::shared_ptr<linalg::DeviceBatchGrams> grams_b,
             Device device)
      : PairRun(std::move(acc)), names_(names), grams_(std::move(grams)), grams_b_(std::move(grams_b)) {
    device_products_ = measure == Measure::svcca || measure == Measure::pwcca || measure == Measure::ridge;
    if (device_products_) acc_->use_pair_products(std::make_unique<linalg::DevicePairProducts>(cuda_context(device)));
  }
  void add_batch(const std::vector<Tensor>& a, const std::vector<Tensor>& b) override {
    DeviceLayers layers(*grams_, grams_b_.get(), acc_->batches(), a, b, names_);
    acc_->add_layers(layers.rows());
  }
  std::string precision() const override {
    return device_products_ ? "cuda fp64" : "cuda fp64 (pair terms: cpu fp64)";
  }
  void release_workspace() override { grams_->release_workspace(); }

 private:
  LayerNames names_;
  std::shared_ptr<linalg::DeviceBatchGrams> grams_, grams_b_;  // grams_b_: B's, shared; null: in grams_
  bool device_products_ = false;
};

// CKA's permutation null for features on the GPU, from the Grams computed there (no copy of
// the features); the measure itself runs as GpuCka.
class GpuGramNull final : public MeasureRun {
 public:
  GpuGramNull(std::unique_ptr<MeasureRun> inner, std::unique_ptr<HostNull> null, const LayerNames& names,
              std::shared_ptr<linalg::DeviceBatchGrams> grams, std::shared_ptr<linalg::DeviceBatchGrams> grams_b)
      : inner_(std::move(inner)),
        null_(std::move(null)),
        names_(names),
        grams_(std::move(grams)),
        grams_b_(std::move(grams_b)) {}
  void add_batch(const std::vector<Tensor>& a, const std::vector<Tensor>& b) override {
    inner_->add_batch(a, b);
    DeviceLayers layers(*grams_, grams_b_.get(), batches_++, a, b, names_);
    null_->add_layers(layers.rows());
  }
  size_t outputs() const override { return inner_->outputs(); }
  const stats::BatchTerms& terms(size_t o) const override { return inner_->terms(o); }
  std::vector<double> value(const std::vector<double>& mean, bool warn) const override {
    return inner_->value(mean, warn);
  }
  std::string precision() const override { return inner_->precision(); }
  void release_workspace() override {
    inner_->release_workspace();
    grams_->release_workspace();
  }
  std::vector<std::vector<double>> null_values(size_t o) const override { return null_->null_values(o); }

 private:
  std::unique_ptr<MeasureRun> inner_;
  std::unique_ptr<HostNull> null_;
  LayerNames names_;
  std::shared_ptr<linalg::DeviceBatchGrams> grams_, grams_b_;  // grams_b_: B's, shared; null: in grams_
  int64_t batches_ = 0;
};

class GpuProcrustes final : public MeasureRun {
 public:
  GpuProcrustes(Device device, const LayerNames& names, const CompareSettings& s)
      : names_(names),
        precision_(precision_for(Measure::procrustes, s)),
        acc_(cuda_context(device), static_cast<int64_t>(names.a.size()), names.layers_b(), precision_) {}
  void add_batch(const std::vector<Tensor>& a, const std::vector<Tensor>& b) override {
    feed_device(acc_, names_.self, a, b, names_);
  }
  const stats::BatchTerms& terms(size_t) const override { return acc_.terms(); }
  std::vector<double> value(const std::vector<double>& mean, bool) const override { return mean; }
  std::vector<std::string> forms() const override { return form_names(acc_.forms()); }
  void release_workspace() override { acc_.release_workspace(); }
  std::string precision() const override { return std::string("cuda ") + cka::precision_name(precision_); }

 private:
  LayerNames names_;
  cka::GramPrecision precision_;
  procrustes::CudaProcrustesAccumulator acc_;
};
#endif

}  // namespace

// The effective batch (the batch size, or all n examples when there are fewer) must reach
// every measure's minimum; below an advised size, one warning per measure.
void check_batch_size(int64_t n, const CompareSettings& s) {
  const int64_t effective = std::min(s.batch_size, n);
  for (const auto& [limits, text] : limits_of(s)) {
    if (effective > limits.maximum)
      CONVLAB_FAIL("{} takes batches of at most {} examples ({}), got {}: lower --batch-size to {} or less",
                   text.name, limits.maximum, text.above_maximum, effective, limits.maximum);
    if (effective >= limits.minimum) continue;
    if (s.batch_size < limits.minimum)
      CONVLAB_FAIL("{} needs batches of at least {} examples ({}): raise --batch-size to {} or more", text.name,
                   limits.minimum, text.below_minimum, limits.minimum);
    CONVLAB_FAIL("{} needs batches of at least {} examples ({}), but only {} examples are used, which make one batch "
                 "of {} whatever --batch-size is: use {} or more examples (--examples, or more rows of features)",
                 text.name, limits.minimum, text.below_minimum, n, n, limits.minimum);
  }
}

void warn_small_batches(int64_t n, const CompareSettings& s) {
  const int64_t effective = std::min(s.batch_size, n);
  for (const auto& [limits, text] : limits_of(s)) {
    if (effective >= limits.advised) continue;
    std::string remedy = fmt::format("raise --batch-size to {} or more", limits.advised);
    if (s.batch_size >= limits.advised)
      remedy = fmt::format("use {} or more examples (--examples)", limits.advised);
    else if (n < limits.advised)
      remedy = fmt::format("raise --batch-size and the examples (--examples) to {} or more", limits.advised);
    fmt::print(stderr, "convlab: warning: {} in batches of {} examples is far from its large-batch value: {}; {}\n",
               text.name, effective, text.below_advised, remedy);
  }
}

void check_compare_settings(const CompareSettings& s) {
  CONVLAB_CHECK(!s.measures.empty(), "no measure to compute: choose from {}", measure_names());
  CONVLAB_CHECK(std::find(s.measures.begin(), s.measures.end(), Measure::cka) == s.measures.end() || !s.kernels.empty(),
                "CKA needs at least one kernel");
  CONVLAB_CHECK(s.batch_size >= 1, "the batch size must be positive, got {}", s.batch_size);
  CONVLAB_CHECK(s.bootstrap == 0 || s.bootstrap >= 2, "the bootstrap needs at least 2 replicates, got {}",
                s.bootstrap);
  CONVLAB_CHECK(s.knn >= 1, "mutual k-NN and CKNNA need at least 1 neighbour (--knn), got {}", s.knn);
  CONVLAB_CHECK(s.svcca_dims > 0 || (s.svcca_variance > 0.0 && s.svcca_variance <= 1.0),
                "SVCCA and PWCCA keep a share of the variance in (0, 1] (--svcca-variance), got {}", s.svcca_variance);
  CONVLAB_CHECK(s.permutations >= 0, "--permutations must be 0 (none) or more, got {}", s.permutations);
  CONVLAB_CHECK(s.svcca_dims >= 0, "--svcca-dims must be positive (or 0: by variance), got {}", s.svcca_dims);
  CONVLAB_CHECK(s.ridge > 0.0 && std::isfinite(s.ridge), "the ridge penalty (--ridge) must be a positive number, got {}",
                s.ridge);
}

// The smallest batch every measure accepts.
int64_t smallest_batch(const CompareSettings& s) {
  int64_t smallest = 1;
  for (const auto& [limits, text] : limits_of(s)) smallest = std::max(smallest, limits.minimum);
  return smallest;
}

void check_gpu_memory(const std::vector<Tensor>& a, const std::vector<Tensor>& b, const CompareSettings& s) {
  const auto widths = [](const std::vector<Tensor>& layers) {
    std::vector<int64_t> out;
    for (const Tensor& t : layers) out.push_back(t.numel() / std::max<int64_t>(1, t.dim(0)));
    return out;
  };
  const Device device = a.front().device();
  check_device_memory(widths(a), widths(b), a.front().dim(0), s, free_device_memory(device), device.name());
}

void LayerScales::apply(std::vector<Tensor>& layers) {
  if (exponents_.empty()) {
    exponents_.assign(layers.size(), 0);
    chosen_.assign(layers.size(), false);
  }
  CONVLAB_CHECK(layers.size() == exponents_.size(), "a feature source gave {} layers, then {}", exponents_.size(),
                layers.size());
  for (size_t l = 0; l < layers.size(); ++l) {
    Tensor& t = layers[l];
    if (!chosen_[l]) {
      const double largest = largest_magnitude(t);
      if (largest > 0.0 && std::isfinite(largest)) {  // NaN and infinity are the measures' to report
        int exponent = 0;
        std::frexp(largest, &exponent);
        exponents_[l] = -exponent;
        chosen_[l] = true;
      }
    }
    const int e = exponents_[l];
    if (std::abs(e) <= kLargestUnscaledExponent) continue;  // the values would not change
    if (t.borrowed()) t = t.clone();
    scale_by_power_of_two(t, e);
  }
}

double LayerScales::largest_magnitude(Tensor& t) {
  if (t.device().is_cpu()) {
    if (t.dtype() == DType::f64) return host_largest(t.host<double>(), t.numel());
    if (t.dtype() == DType::f32) return host_largest(t.host<float>(), t.numel());
    return 0.0;  // no other type reaches the measures
  }
#if CONVLAB_WITH_CUDA
  if (t.dtype() != DType::f32) return 0.0;  // the device measures take f32 and say so
  if (!scratch_.defined() || scratch_.device() != t.device()) scratch_ = Tensor::empty({1}, DType::i32, t.device());
  uint32_t* scratch = reinterpret_cast<uint32_t*>(scratch_.data<int32_t>());
  return cka_cuda::largest_magnitude(t.data<float>(), t.numel(), scratch, cuda_context(t.device()).stream());
#else
  return 0.0;
#endif
}

namespace {

// One measure's run, given what the comparison's runs share.
std::unique_ptr<MeasureRun> measure_run(Measure measure, bool on_gpu, Device device, const LayerNames& names,
                                        const CompareSettings& s, const SharedWork& shared) {
  if (host_only(measure)) {
    auto acc = pair_accumulator(measure, names, s);
    if (s.permutations > 0) acc->set_permutations(s.permutations, s.seed);
#if CONVLAB_WITH_CUDA
    if (on_gpu)
      return std::make_unique<GpuPairRun>(measure, std::move(acc), names, shared.device_grams, shared.b.device, device);
#endif
    acc->share_grams(shared.host_grams, shared.b.host);
    return std::make_unique<HostPairRun>(std::move(acc), names);
  }
  std::unique_ptr<MeasureRun> run;
  if (!on_gpu) {
    switch (measure) {
      case Measure::rsa: run = std::make_unique<HostRsa>(names); break;
      case Measure::procrustes: run = std::make_unique<HostProcrustes>(names); break;
      default: run = std::make_unique<HostCka>(names, s); break;
    }
  } else {
#if CONVLAB_WITH_CUDA
    switch (measure) {
      case Measure::rsa: run = std::make_unique<GpuRsa>(device, names, s); break;
      case Measure::procrustes: run = std::make_unique<GpuProcrustes>(device, names, s); break;
      default: run = std::make_unique<GpuCka>(device, names, s); break;
    }
#else
    CONVLAB_FAIL("features on {} need the CUDA measures, and this convlab was built without CUDA", device.name());
#endif
  }
  if (s.permutations == 0) return run;
#if CONVLAB_WITH_CUDA
  if (on_gpu && measure == Measure::cka)
    return std::make_unique<GpuGramNull>(std::move(run), std::make_unique<HostNull>(measure, names, s), names,
                                         shared.device_grams, shared.b.device);
#endif
  return std::make_unique<PermutedRun>(
      std::move(run), std::make_unique<HostNull>(measure, names, s, shared.host_grams, shared.b.host), names,
      shared.copies);
}

}  // namespace

ReferenceGrams make_reference_grams(bool on_gpu, Device device) {
  ReferenceGrams out;
  out.host = std::make_shared<linalg::BatchGrams>();
#if CONVLAB_WITH_CUDA
  if (on_gpu) out.device = std::make_shared<linalg::DeviceBatchGrams>(cuda_context(device));
#else
  (void)device;
  CONVLAB_CHECK(!on_gpu, "features on a GPU need the CUDA measures, and this convlab was built without CUDA");
#endif
  return out;
}

std::vector<std::unique_ptr<MeasureRun>> make_measure_runs(bool on_gpu, Device device, const LayerNames& names,
                                                          const CompareSettings& s, const ReferenceGrams* reference) {
  const SharedWork shared = shared_work(on_gpu, device, reference);
  std::vector<std::unique_ptr<MeasureRun>> runs;
  for (Measure m : s.measures) runs.push_back(measure_run(m, on_gpu, device, names, s, shared));
  return runs;
}

std::vector<SimilarityMatrix> measure_matrices(const std::vector<std::unique_ptr<MeasureRun>>& runs,
                                               const CompareSettings& s, const MatrixLabels& labels, bool warn) {
  std::vector<SimilarityMatrix> out;
  for (size_t r = 0; r < runs.size(); ++r) {
    const MeasureRun& run = *runs[r];
    for (size_t o = 0; o < run.outputs(); ++o) {
      SimilarityMatrix m;
      m.measure = s.measures[r];
      m.options = {m.measure == Measure::cka ? s.kernels[o] : cka::Kernel::linear(), s.estimator};
      m.rows = static_cast<int64_t>(labels.names.a.size());
      m.cols = static_cast<int64_t>(labels.names.self ? labels.names.a.size() : labels.names.b.size());
      m.values = run.value(run.terms(o).weighted_mean(), true);
      m.row_names = labels.names.a;
      m.col_names = labels.names.self ? labels.names.a : labels.names.b;
      m.row_source = labels.row_source;
      m.col_source = labels.col_source;
      m.examples = labels.examples;
      m.batches = labels.batches;
      m.batch_size = s.batch_size;
      m.last_batch = s.last_batch;
      m.seconds = labels.seconds;
      m.forms = run.forms();
      m.precision = run.precision();
      m.parameters = measure_parameters(m.measure, s);
      m.kept_dims = run.kept_dims();
      if (s.permutations > 0) {
        m.permutation = stats::summarise_permutations(m.values, run.null_values(o), m.measure == Measure::procrustes,
                                                      s.seed);
        // The smallest p-value is 1 / (P + 1); Holm's first threshold alpha / cells.
        const double cells = static_cast<double>(m.values.size());
        if (1.0 / static_cast<double>(s.permutations + 1) > m.permutation->alpha / cells && o == 0 && r == 0 && warn)
          fmt::print(stderr,
                     "convlab: warning: with {} permutations no cell of a {}-cell matrix can be significant after "
                     "Holm's correction (the smallest p-value, 1/{}, exceeds {:g}/{}): use --permutations {} or "
                     "more\n",
                     s.permutations, m.values.size(), s.permutations + 1, m.permutation->alpha, m.values.size(),
                     static_cast<int64_t>(std::ceil(cells / m.permutation->alpha)) - 1);
      }
      if (s.bootstrap > 0) {
        const auto statistic = [&run](const std::vector<double>& mean) { return run.value(mean, false); };
        m.bootstrap = stats::bootstrap_batches(run.terms(o), statistic, s.bootstrap, s.seed);
      }
      out.push_back(std::move(m));
    }
  }
  return out;
}

}  // namespace convlab::analysis_detail
