#include "framework/linalg/cuda/device_grams.h"

#include <cublas_v2.h>
#include <cusolverDn.h>

#include <cmath>
#include <cstring>
#include <unordered_map>

#include "framework/backend/cuda/cuda_check.h"
#include "framework/backend/cuda/cuda_context.h"
#include "framework/backend/cuda/cusolver_check.h"
#include "framework/cka/cuda/device_gram.h"
#include "framework/cka/cuda/launch.h"
#include "framework/cka/cuda/range_scale.h"
#include "framework/core/error.h"
#include "framework/linalg/cuda/copy_to_host.h"
#include "framework/linalg/cuda/gram_f64_kernels.h"
#include "framework/linalg/first_copies.h"

namespace convlab::linalg {

DeviceBatchGrams::DeviceBatchGrams(CudaContext& context) : context_(context) {}

void DeviceBatchGrams::start(int64_t batch) {
  if (batch == batch_) return;
  batch_ = batch;
  grams_.clear();
  spectra_.clear();
  copies_.clear();
}

void DeviceBatchGrams::release_workspace() {
  block_ = Tensor();
  partial_ = Tensor();
  square_ = Tensor();
  values_ = Tensor();
  info_ = Tensor();
  hashes_ = Tensor();
  bits_ = Tensor();
  work_ = Tensor();
  host_work_.clear();
  host_work_.shrink_to_fit();
}

DeviceBatchGrams::Key DeviceBatchGrams::key(const cka::DeviceFeatureView& x, int centring) {
  return {static_cast<const void*>(x.data()), x.rows(), x.cols(), centring};
}

void DeviceBatchGrams::fail_nonfinite(const cka::DeviceFeatureView& x) {
  // The error path alone copies the layer, to name the first bad value as the CPU does.
  const std::vector<float> values = linalg_cuda::copy_to_host(x.data(), x.rows() * x.cols(), context_.stream());
  for (size_t at = 0; at < values.size(); ++at)
    if (!std::isfinite(values[at]))
      CONVLAB_FAIL("{} has {} feature (example {}, feature {}): the measures need finite features", x.label(),
                   std::isnan(values[at]) ? "a NaN" : "an infinite", static_cast<int64_t>(at) / x.cols(),
                   static_cast<int64_t>(at) % x.cols());
  CONVLAB_FAIL("{}: the GPU found a NaN or infinite feature that a second look did not: report this", x.label());
}

int DeviceBatchGrams::scale_exponent(const cka::DeviceFeatureView& x) {
  uint32_t* bits = reinterpret_cast<uint32_t*>(cka::reserve<int32_t>(bits_, 1, Device(&context_)));
  const float largest = cka_cuda::largest_magnitude(x.data(), x.rows() * x.cols(), bits, context_.stream());
  if (!std::isfinite(largest)) fail_nonfinite(x);
  int exponent = 0;
  if (largest > 0.0f) std::frexp(static_cast<double>(largest), &exponent);  // largest = m 2^exponent, 0.5 <= m < 1
  return exponent;
}

const std::vector<double>& DeviceBatchGrams::gram(const cka::DeviceFeatureView& x, Centring centring, int* exponent) {
  const Key k = key(x, static_cast<int>(centring));
  auto it = grams_.find(k);
  if (it == grams_.end()) {
    const int64_t n = x.rows(), p = x.cols();
    CONVLAB_CHECK(n <= cka_cuda::kMaxGramSide, "{}: the GPU forms Grams of at most {} examples, got {}: use a smaller "
                  "--batch-size", x.label(), cka_cuda::kMaxGramSide, n);
    CONVLAB_CHECK(x.device() == Device(&context_), "{} is on {}, but these Grams are computed on {}", x.label(),
                  x.device().name(), context_.name());
    const int e = scale_exponent(x);
    const Device device(&context_);
    const cudaStream_t stream = context_.stream();
    const int64_t widest = std::min(p, kBlockColumns);
    double* block = cka::reserve<double>(block_, n * widest, device);         // (n, width) row-major
    double* partial = cka::reserve<double>(partial_, linalg_cuda::kMeanSlices * widest, device);
    double* square = cka::reserve<double>(square_, n * n, device);           // (n, n)
    cublasHandle_t blas = context_.cublas();
    CUBLAS_CHECK(cublasSetPointerMode(blas, CUBLAS_POINTER_MODE_HOST));
    CUBLAS_CHECK(cublasSetMathMode(blas, CUBLAS_DEFAULT_MATH));
    for (int64_t first = 0; first < p; first += kBlockColumns) {
      const int64_t width = std::min(kBlockColumns, p - first);
      linalg_cuda::widen_block(x.data(), n, p, first, width, e, centring == Centring::columns, partial, block, stream);
      // The row-major block (n, width) is cuBLAS's column-major A (width, n): K += A^T A.
      const double one = 1.0, beta = first == 0 ? 0.0 : 1.0;
      CUBLAS_CHECK(cublasDsyrk(blas, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_T, static_cast<int>(n), static_cast<int>(width),
                               &one, block, static_cast<int>(width), &beta, square, static_cast<int>(n)));
    }
    linalg_cuda::mirror_lower(square, n, stream);
    it = grams_.emplace(k, std::make_pair(linalg_cuda::copy_to_host(square, n * n, stream), e)).first;
  }
  if (exponent) *exponent = it->second.second;
  return it->second.first;
}

const CentredSpectrum& DeviceBatchGrams::spectrum(const cka::DeviceFeatureView& x) {
  const Key k = key(x, static_cast<int>(Centring::columns));
  auto it = spectra_.find(k);
  if (it != spectra_.end()) return it->second;
  const int64_t n = x.rows();
  const std::vector<double>& g = gram(x, Centring::columns);
  const double trace = gram_trace(g, n);
  if (!(trace > 0.0)) return spectra_.emplace(k, constant_spectrum(n)).first->second;
  const Device device(&context_);
  const cudaStream_t stream = context_.stream();
  double* a = cka::reserve<double>(square_, n * n, device);
  CUDA_CHECK(cudaMemcpyAsync(a, g.data(), static_cast<size_t>(n * n) * sizeof(double), cudaMemcpyHostToDevice,
                             stream));
  linalg_cuda::divide(a, n * n, trace, stream);  // K / tr(K), as the CPU's v /= trace
  double* w = cka::reserve<double>(values_, n, device);
  int* info = cka::reserve<int32_t>(info_, 1, device);
  size_t device_bytes = 0, host_bytes = 0;
  const cusolverStatus_t query = cusolverDnXsyevd_bufferSize(
      context_.cusolver(), context_.cusolver_params(), CUSOLVER_EIG_MODE_VECTOR, CUBLAS_FILL_MODE_UPPER, n, CUDA_R_64F,
      a, n, CUDA_R_64F, w, CUDA_R_64F, &device_bytes, &host_bytes);
  CONVLAB_CHECK(query == CUSOLVER_STATUS_SUCCESS, "{}: cuSOLVER cannot decompose a {} x {} matrix (its Xsyevd workspace "
                "query failed with status {}): use a smaller --batch-size", x.label(), n, n, static_cast<int>(query));
  void* work = cka::reserve<uint8_t>(work_, static_cast<int64_t>(device_bytes), device);
  if (host_work_.size() < host_bytes) host_work_.resize(host_bytes);
  CUSOLVER_CHECK(cusolverDnXsyevd(context_.cusolver(), context_.cusolver_params(), CUSOLVER_EIG_MODE_VECTOR,
                                  CUBLAS_FILL_MODE_UPPER, n, CUDA_R_64F, a, n, CUDA_R_64F, w, CUDA_R_64F, work,
                                  device_bytes, host_bytes ? host_work_.data() : nullptr, host_bytes, info));
  const std::vector<int32_t> status = linalg_cuda::copy_to_host(info, 1, stream);
  CONVLAB_CHECK(status[0] == 0, "{}: cuSOLVER's eigendecomposition of the {} x {} centred Gram failed (info {})",
                x.label(), n, n, status[0]);
  const std::vector<double> ascending = linalg_cuda::copy_to_host(w, n, stream);
  // Column-major: eigenvector j in row j.
  const std::vector<double> vectors = linalg_cuda::copy_to_host(a, n * n, stream);
  return spectra_.emplace(k, spectrum_from_eigen(ascending, vectors, n, /*vectors_in_rows=*/true)).first->second;
}

const std::vector<int64_t>& DeviceBatchGrams::first_copies(const cka::DeviceFeatureView& x) {
  const Key k = key(x, -1);
  auto it = copies_.find(k);
  if (it != copies_.end()) return it->second;
  const int64_t n = x.rows(), p = x.cols();
  const cudaStream_t stream = context_.stream();
  static_assert(sizeof(double) == sizeof(uint64_t));
  uint64_t* device_hashes = reinterpret_cast<uint64_t*>(cka::reserve<double>(hashes_, n, Device(&context_)));
  linalg_cuda::row_hashes(x.data(), n, p, device_hashes, stream);
  const std::vector<uint64_t> hashes = linalg_cuda::copy_to_host(device_hashes, n, stream);
  // Examples of equal hash are compared bit for bit on the host, each row copied once.
  std::unordered_map<int64_t, std::vector<float>> rows;
  const auto row = [&](int64_t i) -> const std::vector<float>& {
    auto at = rows.find(i);
    if (at == rows.end()) at = rows.emplace(i, linalg_cuda::copy_to_host(x.data() + i * p, p, stream)).first;
    return at->second;  // stable: an unordered_map never moves its elements
  };
  std::vector<int64_t> out = first_copies_by_hash(hashes, [&](int64_t f, int64_t i) {
    return std::memcmp(row(f).data(), row(i).data(), static_cast<size_t>(p) * sizeof(float)) == 0;
  });
  return copies_.emplace(k, std::move(out)).first->second;
}

}  // namespace convlab::linalg
