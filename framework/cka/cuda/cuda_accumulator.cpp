#include "framework/cka/cuda/cuda_accumulator.h"

#include <algorithm>

#include "framework/backend/cuda/cuda_check.h"
#include "framework/backend/cuda/cuda_context.h"
#include "framework/cka/centring.h"
#include "framework/cka/cuda/column_centring.h"
#include "framework/cka/cuda/gram_block.h"
#include "framework/cka/cuda/gram_centring.h"
#include "framework/cka/cuda/launch.h"
#include "framework/cka/cuda/rbf_gram.h"
#include "framework/cka/gram.h"
#include "kernels/gram.h"

namespace convlab::cka {
namespace {

// At least `count` elements of T on `device` in `buffer`, reallocated only to grow. Work
// queued on the stream may still read the old memory: the allocator hands it out again only
// to later work on the same stream.
template <class T>
T* reserve(Tensor& buffer, int64_t count, Device device) {
  if (!buffer.defined() || buffer.numel() < count) {
    buffer = Tensor();
    buffer = Tensor::empty({count}, dtype_of<T>(), device);
  }
  return buffer.data<T>();
}

}  // namespace

CudaCkaAccumulator::CudaCkaAccumulator(CudaContext& context, int64_t layers, Options options,
                                       GramPrecision precision)
    : context_(context), options_(options), precision_(precision), pairs_(layers) {
  start();
}

CudaCkaAccumulator::CudaCkaAccumulator(CudaContext& context, int64_t layers_a, int64_t layers_b, Options options,
                                       GramPrecision precision)
    : context_(context), options_(options), precision_(precision), pairs_(layers_a, layers_b) {
  start();
}

void CudaCkaAccumulator::start() {
  const int64_t r = pairs_.rows();
  double* sum = reserve<double>(hsic_sum_, r * r, device());  // (R, R)
  CUDA_CHECK(cudaMemsetAsync(sum, 0, static_cast<size_t>(r * r) * sizeof(double), context_.stream()));
  // The handle queues its work on the context's stream, after the features' producers.
  cublasHandle_t handle = nullptr;
  CUBLAS_CHECK(cublasCreate(&handle));
  const cublasStatus_t status = cublasSetStream(handle, context_.stream());
  if (status != CUBLAS_STATUS_SUCCESS) cublasDestroy(handle);  // a throwing constructor runs no destructor
  CUBLAS_CHECK(status);
  blas_ = handle;
}

CudaCkaAccumulator::~CudaCkaAccumulator() {
  if (blas_) cublasDestroy(blas_);
}

Device CudaCkaAccumulator::device() const { return Device(&context_); }

void CudaCkaAccumulator::add_batch(const std::vector<DeviceFeatureView>& a) {
  CONVLAB_CHECK(self(), "this CKA accumulator compares two networks: pass the features of both to add_batch(a, b)");
  CONVLAB_CHECK(static_cast<int64_t>(a.size()) == layers_a(), "expected features of {} layers, got {}", layers_a(),
                a.size());
  std::vector<const DeviceFeatureView*> layers;
  for (const DeviceFeatureView& v : a) layers.push_back(&v);
  accumulate(layers);
}

void CudaCkaAccumulator::add_batch(const std::vector<DeviceFeatureView>& a, const std::vector<DeviceFeatureView>& b) {
  CONVLAB_CHECK(!self(), "this CKA accumulator compares one network with itself: pass its features to add_batch(a)");
  CONVLAB_CHECK(static_cast<int64_t>(a.size()) == layers_a(), "expected features of {} layers of network A, got {}",
                layers_a(), a.size());
  CONVLAB_CHECK(static_cast<int64_t>(b.size()) == layers_b(), "expected features of {} layers of network B, got {}",
                layers_b(), b.size());
  std::vector<const DeviceFeatureView*> layers;
  for (const DeviceFeatureView& v : a) layers.push_back(&v);
  for (const DeviceFeatureView& v : b) layers.push_back(&v);
  accumulate(layers);
}

void CudaCkaAccumulator::linear_gram(const DeviceFeatureView& x, double* gram, int32_t* nonfinite) {
  const int64_t k = x.rows(), p = x.cols();
  const cudaStream_t stream = context_.stream();
  float* block = reserve<float>(block_, k * std::min(p, kGramBlock), device());  // (k, w)
  float* partial = reserve<float>(partial_, k * k, device());                     // (k, k)
  const float one = 1.0f, zero = 0.0f;
  for (int64_t first = 0; first < p; first += kGramBlock) {
    const int64_t width = std::min(kGramBlock, p - first);
    cka_cuda::centre_column_block(x.data(), k, p, first, width, block, nonfinite, stream);
    // The row-major (k, w) block is, to cuBLAS, a column-major (w, k) matrix A with leading
    // dimension w; partial (k, k) = A^T A holds the inner products of the k examples.
    const cublasComputeType_t compute = precision_ == GramPrecision::tf32 && width >= kTf32MinColumns
                                            ? CUBLAS_COMPUTE_32F_FAST_TF32
                                            : CUBLAS_COMPUTE_32F;
    const int n = static_cast<int>(k), w = static_cast<int>(width);
    CUBLAS_CHECK(cublasGemmEx(blas_, CUBLAS_OP_T, CUBLAS_OP_N, n, n, w, &one, block, CUDA_R_32F, w, block,
                                      CUDA_R_32F, w, &zero, partial, CUDA_R_32F, n, compute, CUBLAS_GEMM_DEFAULT));
    cka_cuda::add_gram_block(partial, k, first == 0, gram, stream);
  }
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
  check_examples(options_.estimator, k);
  CONVLAB_CHECK(k <= cka_cuda::kMaxGramSide, "the CUDA CKA takes at most {} examples per batch, got {}",
                cka_cuda::kMaxGramSide, k);
  const int64_t kk = k * k;
  const cudaStream_t stream = context_.stream();
  double* grams = reserve<double>(grams_, r * kk, device());  // G (R, k^2)
  int32_t* nonfinite = reserve<int32_t>(nonfinite_, r, device());
  CUDA_CHECK(cudaMemsetAsync(nonfinite, 0, static_cast<size_t>(r) * sizeof(int32_t), stream));
  double* centring = reserve<double>(centring_, cka_cuda::centring_workspace_doubles(k), device());
  size_t rbf_bytes = 0;
  void* rbf = nullptr;
  if (options_.kernel.kind == KernelKind::rbf) {
    rbf_bytes = cka_cuda::rbf_workspace_bytes(k);
    rbf = reserve<uint8_t>(rbf_, static_cast<int64_t>(rbf_bytes), device());
  }
  for (int64_t i = 0; i < r; ++i) {
    const DeviceFeatureView& v = *layers[static_cast<size_t>(i)];
    pairs_.set_name(i, v.name());
    double* row = grams + i * kk;  // this layer's (k, k) Gram, in place in G
    linear_gram(v, row, nonfinite + i);
    if (options_.kernel.kind == KernelKind::rbf)
      cka_cuda::rbf_from_linear_gram(row, k, options_.kernel.rbf_frac, rbf, rbf_bytes, stream);
    cka_cuda::centre_gram_for(options_.estimator, row, k, centring, stream);  // a constant layer's row becomes 0
  }
  // The one wait per batch: NaN or infinite features would spoil every later sum, so they
  // must stop the batch before it is added.
  std::vector<int32_t> flags(static_cast<size_t>(r));
  context_.copy_to_host(flags.data(), nonfinite, flags.size() * sizeof(int32_t));
  for (int64_t i = 0; i < r; ++i)
    CONVLAB_CHECK(flags[static_cast<size_t>(i)] == 0,
                  "{} has a NaN or infinite feature (batch {} of {} examples); CKA needs finite features",
                  pairs_.label(i), batches_ + 1, k);
  const double scale = options_.estimator == Estimator::debiased ? kernels::debiased_hsic_from_product(1.0, k)
                                                                 : kernels::biased_hsic_from_product(1.0, k);
  const double one = 1.0;
  // hsic_sum (R, R) += scale G G^T. G row-major (R, k^2) is column-major (k^2, R) = A, and
  // G G^T = A^T A: every entry its own pair's inner product, accumulated in f64.
  const int n = static_cast<int>(r), depth = static_cast<int>(kk);
  CUBLAS_CHECK(cublasDgemm(blas_, CUBLAS_OP_T, CUBLAS_OP_N, n, n, depth, &scale, grams, depth, grams, depth,
                                   &one, hsic_sum_.data<double>(), n));
  ++batches_;
  examples_ += k;
}

std::vector<double> CudaCkaAccumulator::mean_hsic() const {
  const int64_t r = pairs_.rows();
  std::vector<double> column_major(static_cast<size_t>(r * r));
  context_.copy_to_host(column_major.data(), hsic_sum_.data<double>(), column_major.size() * sizeof(double));
  std::vector<double> sum(column_major.size());  // (R, R) row-major
  for (int64_t i = 0; i < r; ++i)
    for (int64_t j = 0; j < r; ++j) sum[i * r + j] = column_major[j * r + i];
  return mean_over_batches(std::move(sum), batches_);
}

std::vector<double> CudaCkaAccumulator::result() const { return pairs_.cka(mean_hsic()); }

}  // namespace convlab::cka
