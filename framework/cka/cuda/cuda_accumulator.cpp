#include "framework/cka/cuda/cuda_accumulator.h"

#include <algorithm>
#include <cstring>

#include "framework/backend/cuda/cuda_check.h"
#include "framework/backend/cuda/cuda_context.h"
#include "framework/cka/centring.h"
#include "framework/cka/cuda/gram_centring.h"
#include "framework/cka/cuda/launch.h"
#include "framework/cka/cuda/rbf_gram.h"
#include "framework/cka/cuda/row_products.h"
#include "framework/cka/rbf_width.h"
#include "kernels/gram.h"

namespace convlab::cka {
namespace {

}  // namespace

CudaCkaAccumulator::CudaCkaAccumulator(CudaContext& context, int64_t layers, Options options,
                                       GramPrecision precision)
    : CudaCkaAccumulator(context, layers, 0, {options.kernel}, options.estimator, precision) {}

CudaCkaAccumulator::CudaCkaAccumulator(CudaContext& context, int64_t layers_a, int64_t layers_b, Options options,
                                       GramPrecision precision)
    : CudaCkaAccumulator(context, layers_a, layers_b, {options.kernel}, options.estimator, precision) {
  CONVLAB_CHECK(layers_b > 0, "CKA needs at least one layer per network, got {} and {}", layers_a, layers_b);
}

CudaCkaAccumulator::CudaCkaAccumulator(CudaContext& context, int64_t layers_a, int64_t layers_b,
                                       std::vector<Kernel> kernels, Estimator estimator, GramPrecision precision)
    : context_(context),
      kernels_(std::move(kernels)),
      estimator_(estimator),
      precision_(precision),
      pairs_(LayerPairs::of(layers_a, layers_b)) {
  CONVLAB_CHECK(!kernels_.empty(), "a CKA accumulator needs at least one kernel");
  const int64_t r = pairs_.rows();
  terms_.assign(kernels_.size(), stats::BatchTerms(r * r));
  grams_.resize(kernels_.size());
  gram_ = std::make_unique<DeviceGram>(context_, precision_);
}

CudaCkaAccumulator::~CudaCkaAccumulator() = default;

Device CudaCkaAccumulator::device() const { return Device(&context_); }

void CudaCkaAccumulator::release_workspace() {
  for (Tensor& g : grams_) g = Tensor();
  linear_ = Tensor();
  rbf_ = Tensor();
  products_ = Tensor();
  gram_->release();
}

void CudaCkaAccumulator::add_batch(const std::vector<DeviceFeatureView>& a) { accumulate(pairs_.batch_rows(a, "CKA")); }

void CudaCkaAccumulator::add_batch(const std::vector<DeviceFeatureView>& a, const std::vector<DeviceFeatureView>& b) {
  accumulate(pairs_.batch_rows(a, b, "CKA"));
}

void CudaCkaAccumulator::accumulate(const std::vector<const DeviceFeatureView*>& layers) {
  const int64_t r = pairs_.rows();
  const int64_t k = layers[0]->rows();
  for (const DeviceFeatureView* v : layers) {
    CONVLAB_CHECK(v->rows() == k, "every layer of a batch holds the same examples: {} has {} rows, {} has {}",
                  layers[0]->label(), k, v->label(), v->rows());
    CONVLAB_CHECK(v->device() == device(), "{} is on {}, but this CKA accumulator runs on {}", v->label(),
                  v->device().name(), context_.name());
  }
  check_examples(estimator_, k);
  CONVLAB_CHECK(k <= cka_cuda::kMaxGramSide, "the CUDA CKA takes at most {} examples per batch, got {}",
                cka_cuda::kMaxGramSide, k);
  const int64_t kk = k * k, nk = static_cast<int64_t>(kernels_.size());
  const cudaStream_t stream = context_.stream();
  double* linear = reserve<double>(linear_, kk, device());  // (k, k)
  // What comes back: (kernels, R, R) f64 terms; (kernels, R, 3) f64 RBF distance spreads
  // (smallest nonzero, largest, s^2; zero for linear kernels); then i32 flags in the doubles
  // after them: R NaN-or-infinity flags and (kernels, R) "centred to rounding" flags.
  const int64_t spread_doubles = nk * r * 3, flag_count = r * (1 + nk), flag_doubles = (flag_count + 1) / 2;
  double* back = reserve<double>(hsic_, nk * r * r + spread_doubles + flag_doubles, device());
  double* spreads = back + nk * r * r;
  int32_t* nonfinite = reinterpret_cast<int32_t*>(spreads + spread_doubles);
  int32_t* flat = nonfinite + r;  // (kernels, R)
  CUDA_CHECK(cudaMemsetAsync(spreads, 0, static_cast<size_t>(spread_doubles + flag_doubles) * sizeof(double), stream));
  double* centring = reserve<double>(centring_, cka_cuda::centring_workspace_doubles(k), device());
  const bool any_rbf = std::any_of(kernels_.begin(), kernels_.end(),
                                   [](const Kernel& kernel) { return kernel.kind == KernelKind::rbf; });
  // RBF: the select's scratch, then the layer's distance stats (median, smallest nonzero,
  // largest), found once per layer for every RBF kernel.
  size_t rbf_bytes = 0;
  void* rbf = nullptr;
  double* stats = nullptr;
  if (any_rbf) {
    rbf_bytes = cka_cuda::rbf_workspace_bytes(k);  // a multiple of 256: the stats after it are aligned
    uint8_t* bytes = reserve<uint8_t>(
        rbf_, static_cast<int64_t>(rbf_bytes + cka_cuda::kDistanceStats * sizeof(double)), device());
    rbf = bytes;
    stats = reinterpret_cast<double*>(bytes + rbf_bytes);
  }
  const int sms = context_.multiprocessors();
  const int64_t product_doubles = cka_cuda::symmetric_row_products_workspace_doubles(r, kk, sms);
  double* products = product_doubles > 0 ? reserve<double>(products_, product_doubles, device()) : nullptr;
  std::vector<double*> grams;
  for (Tensor& g : grams_) grams.push_back(reserve<double>(g, r * kk, device()));  // G (R, k^2) per kernel
  for (int64_t i = 0; i < r; ++i) {
    const DeviceFeatureView& v = *layers[static_cast<size_t>(i)];
    pairs_.set_name(i, v.name());
    gram_->compute(v, Centring::columns, linear, nonfinite + i);  // once for all kernels
    ++linear_grams_;
    if (any_rbf) cka_cuda::distance_stats(linear, k, rbf, rbf_bytes, stats, stream);
    for (size_t s = 0; s < kernels_.size(); ++s) {
      double* row = grams[s] + i * kk;  // this layer's (k, k) Gram in G
      if (kernels_[s].kind == KernelKind::rbf)
        cka_cuda::rbf_from_linear_gram(linear, k, kernels_[s].rbf_frac, stats, row,
                                       spreads + (static_cast<int64_t>(s) * r + i) * 3, rbf, rbf_bytes, stream);
      else
        CUDA_CHECK(cudaMemcpyAsync(row, linear, static_cast<size_t>(kk) * sizeof(double), cudaMemcpyDeviceToDevice,
                                   stream));
      // A constant layer's row becomes 0.
      cka_cuda::centre_gram_for(estimator_, row, k, centring, stream, flat + static_cast<int64_t>(s) * r + i);
    }
  }
  const double scale = estimator_ == Estimator::debiased ? kernels::debiased_hsic_from_product(1.0, k)
                                                         : kernels::biased_hsic_from_product(1.0, k);
  // This batch's (R, R) = scale G G^T per kernel: every entry its own pair's inner product of
  // two rows of k^2 doubles, in f64.
  for (size_t s = 0; s < kernels_.size(); ++s)
    cka_cuda::symmetric_row_products(context_.cublas(), grams[s], r, kk, scale,
                                     back + static_cast<int64_t>(s) * r * r, products, product_doubles, sms, stream);
  // The one wait per batch: NaN or infinite features would spoil the terms, so they must stop
  // the batch before it is kept.
  std::vector<double> host(static_cast<size_t>(nk * r * r + spread_doubles + flag_doubles));
  context_.copy_to_host(host.data(), back, host.size() * sizeof(double));
  std::vector<int32_t> flags(static_cast<size_t>(flag_count));
  std::memcpy(flags.data(), host.data() + nk * r * r + spread_doubles, flags.size() * sizeof(int32_t));
  for (int64_t i = 0; i < r; ++i)
    CONVLAB_CHECK(flags[static_cast<size_t>(i)] == 0,
                  "{} has a NaN or infinite feature (batch {} of {} examples); CKA needs finite features",
                  pairs_.label(i), batches() + 1, k);
  for (size_t s = 0; s < kernels_.size(); ++s) {
    if (kernels_[s].kind != KernelKind::rbf) continue;
    for (int64_t i = 0; i < r; ++i) {
      const int64_t at = static_cast<int64_t>(s) * r + i;
      const double* spread = host.data() + nk * r * r + at * 3;
      const RbfFit fit = rbf_fit(spread[0], spread[1], spread[2], flags[static_cast<size_t>(r + at)] != 0);
      if (fit != RbfFit::fits) CONVLAB_FAIL("{}", rbf_misfit_message(pairs_.label(i), kernels_[s].rbf_frac, fit));
    }
  }
  for (size_t s = 0; s < kernels_.size(); ++s)
    terms_[s].add(host.data() + static_cast<int64_t>(s) * r * r, static_cast<double>(k));
  examples_ += k;
}

std::vector<double> CudaCkaAccumulator::result(size_t kernel) const { return pairs_.cka(mean_hsic(kernel)); }

}  // namespace convlab::cka
