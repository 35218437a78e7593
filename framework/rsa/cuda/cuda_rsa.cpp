#include "framework/rsa/cuda/cuda_rsa.h"

#include <fmt/format.h>

#include <cstdio>
#include <cstring>

#include "framework/backend/cuda/cuda_check.h"
#include "framework/backend/cuda/cuda_context.h"
#include "framework/cka/cuda/launch.h"
#include "framework/cka/cuda/row_products.h"
#include "framework/rsa/cuda/rdm_ranks.h"
#include "framework/rsa/rsa.h"
#include "kernels/rsa.h"

namespace convlab::rsa {

CudaRsaAccumulator::CudaRsaAccumulator(CudaContext& context, int64_t layers_a, int64_t layers_b,
                                       cka::GramPrecision precision)
    : context_(context),
      pairs_(cka::LayerPairs::of(layers_a, layers_b)),
      terms_(pairs_.layers_a() * pairs_.layers_b()),
      warned_examples_(static_cast<size_t>(pairs_.rows()), false),
      warned_constant_(static_cast<size_t>(pairs_.rows()), false) {
  gram_ = std::make_unique<cka::DeviceGram>(context_, precision);
}

CudaRsaAccumulator::~CudaRsaAccumulator() = default;

void CudaRsaAccumulator::release_workspace() {
  gram_buffer_ = Tensor();
  distances_ = Tensor();
  ranks_ = Tensor();
  sort_ = Tensor();
  products_ = Tensor();
  gram_->release();
}

void CudaRsaAccumulator::add_batch(const std::vector<cka::DeviceFeatureView>& a) { accumulate(pairs_.batch_rows(a, "RSA")); }

void CudaRsaAccumulator::add_batch(const std::vector<cka::DeviceFeatureView>& a, const std::vector<cka::DeviceFeatureView>& b) {
  accumulate(pairs_.batch_rows(a, b, "RSA"));
}

void CudaRsaAccumulator::accumulate(const std::vector<const cka::DeviceFeatureView*>& layers) {
  const int64_t r = pairs_.rows(), k = layers[0]->rows();
  const Device device(&context_);
  for (const cka::DeviceFeatureView* v : layers) {
    CONVLAB_CHECK(v->rows() == k, "every layer of a batch holds the same examples: {} has {} rows, {} has {}",
                  layers[0]->label(), k, v->label(), v->rows());
    CONVLAB_CHECK(v->device() == device, "{} is on {}, but this RSA accumulator runs on {}", v->label(),
                  v->device().name(), context_.name());
  }
  CONVLAB_CHECK(k >= kMinExamples && k <= cka_cuda::kMaxGramSide, "the CUDA RSA takes {} to {} examples per batch, got {}",
                kMinExamples, cka_cuda::kMaxGramSide, k);
  const int64_t m = kernels::upper_pair_count(k);
  const cudaStream_t stream = context_.stream();
  double* gram = cka::reserve<double>(gram_buffer_, k * k, device);
  double* distances = cka::reserve<double>(distances_, m, device);
  double* ranks = cka::reserve<double>(ranks_, r * m, device);  // Z (R, m)
  const size_t sort_bytes = rsa_cuda::rank_workspace_bytes(m);
  void* sort = cka::reserve<uint8_t>(sort_, static_cast<int64_t>(sort_bytes), device);
  const int sms = context_.multiprocessors();
  const int64_t product_doubles = cka_cuda::symmetric_row_products_workspace_doubles(r, m, sms);
  double* partials = product_doubles > 0 ? cka::reserve<double>(products_, product_doubles, device) : nullptr;
  const int64_t flag_doubles = r;  // 2R i32
  double* back = cka::reserve<double>(back_, r * r + flag_doubles, device);
  int32_t* nonfinite = reinterpret_cast<int32_t*>(back + r * r);
  int32_t* constant = nonfinite + r;
  CUDA_CHECK(cudaMemsetAsync(nonfinite, 0, static_cast<size_t>(2 * r) * sizeof(int32_t), stream));
  for (int64_t i = 0; i < r; ++i) {
    const cka::DeviceFeatureView& v = *layers[static_cast<size_t>(i)];
    pairs_.set_name(i, v.name());
    gram_->compute(v, cka::Centring::rows, gram, nonfinite + i);
    rsa_cuda::rdm_upper(gram, k, distances, constant + i, stream);
    rsa_cuda::centred_ranks(distances, m, sort, sort_bytes, ranks + i * m, stream);
  }
  // Z Z^T (R, R): every entry its own pair's inner product of two rows of m doubles.
  cka_cuda::symmetric_row_products(context_.cublas(), ranks, r, m, 1.0, back, partials, product_doubles, sms, stream);
  std::vector<double> host(static_cast<size_t>(r * r + flag_doubles));
  context_.copy_to_host(host.data(), back, host.size() * sizeof(double));
  std::vector<int32_t> flags(static_cast<size_t>(2 * r));
  std::memcpy(flags.data(), host.data() + r * r, flags.size() * sizeof(int32_t));
  for (int64_t i = 0; i < r; ++i)
    CONVLAB_CHECK(flags[static_cast<size_t>(i)] == 0,
                  "{} has a NaN or infinite feature (batch {} of {} examples); RSA needs finite features",
                  pairs_.label(i), batches() + 1, k);
  const double* products = host.data();
  for (int64_t i = 0; i < r; ++i) {
    const int32_t constant_examples = flags[static_cast<size_t>(r + i)];
    if (constant_examples > 0 && !warned_examples_[static_cast<size_t>(i)]) {
      warned_examples_[static_cast<size_t>(i)] = true;
      fmt::print(stderr,
                 "warning: RSA: {} has {} of {} examples with constant features in a batch; their correlation with "
                 "other examples is undefined and counts as 0 (distance 1)\n",
                 pairs_.label(i), constant_examples, k);
    }
    if (!(products[i * r + i] > 0.0) && !warned_constant_[static_cast<size_t>(i)]) {
      warned_constant_[static_cast<size_t>(i)] = true;
      fmt::print(stderr, "warning: RSA with {} is undefined (NaN): its RDM is constant over a batch\n",
                 pairs_.label(i));
    }
  }
  const int64_t la = pairs_.layers_a(), lb = pairs_.layers_b();
  std::vector<double> spearman(static_cast<size_t>(la * lb));  // (L, M)
  for (int64_t i = 0; i < la; ++i)
    for (int64_t j = 0; j < lb; ++j) {
      const int64_t rb = pairs_.row_of_b(j);
      spearman[i * lb + j] =
          kernels::correlation_from_products(products[i * r + rb], products[i * r + i], products[rb * r + rb]);
    }
  terms_.add(spearman, static_cast<double>(k));
  examples_ += k;
}

}  // namespace convlab::rsa
