#include "framework/cka/cuda/device_gram.h"

#include <algorithm>

#include "framework/backend/cuda/cuda_check.h"
#include "framework/backend/cuda/cuda_context.h"
#include "framework/cka/cuda/column_centring.h"
#include "framework/cka/cuda/gram_block.h"
#include "framework/cka/cuda/range_scale.h"
#include "framework/cka/gram.h"
#include "framework/rsa/cuda/row_centring.h"

namespace convlab::cka {

DeviceGram::DeviceGram(CudaContext& context, GramPrecision precision) : context_(context), precision_(precision) {}

void DeviceGram::release() {
  block_ = Tensor();
  partial_ = Tensor();
  shift_ = Tensor();
  sums_ = Tensor();
  constant_ = Tensor();
  bits_ = Tensor();
}

void DeviceGram::column_shifts(const DeviceFeatureView& x, int32_t* nonfinite) {
  const int64_t k = x.rows(), p = x.cols();
  const Device device(&context_);
  const cudaStream_t stream = context_.stream();
  const int64_t slices = cka_cuda::column_slices(k, p);
  double* sums = reserve<double>(sums_, slices * p, device);        // (S, p)
  uint8_t* constant = reserve<uint8_t>(constant_, slices * p, device);  // (S, p)
  float* shift = reserve<float>(shift_, p, device);                 // (p)
  uint32_t* bits = reinterpret_cast<uint32_t*>(reserve<int32_t>(bits_, 1, device));
  CUDA_CHECK(cudaMemsetAsync(bits, 0, sizeof(uint32_t), stream));
  cka_cuda::column_statistics(x.data(), k, p, sums, constant, bits, stream);
  cka_cuda::column_shifts(x.data(), k, p, sums, constant, shift, nonfinite, stream);
}

void DeviceGram::centre_columns(const DeviceFeatureView& x, float* out, int32_t* nonfinite) {
  const int64_t k = x.rows(), p = x.cols();
  column_shifts(x, nonfinite);
  cka_cuda::centre_column_block(x.data(), k, p, 0, p, shift_.data<float>(),
                                reinterpret_cast<const uint32_t*>(bits_.data<int32_t>()), out, context_.stream());
}

void DeviceGram::compute(const DeviceFeatureView& x, Centring centring, double* gram, int32_t* nonfinite) {
  const int64_t k = x.rows(), p = x.cols();
  const Device device(&context_);
  const cudaStream_t stream = context_.stream();
  float* block = reserve<float>(block_, k * std::min(p, kGramBlock), device);  // (k, w)
  float* partial = reserve<float>(partial_, k * k, device);                     // (k, k)
  // One pass over the layer: the shifts (p column or k row shifts) and the largest magnitude.
  if (centring == Centring::columns) {
    column_shifts(x, nonfinite);
  } else {
    float* shift = reserve<float>(shift_, k, device);
    uint32_t* bits = reinterpret_cast<uint32_t*>(reserve<int32_t>(bits_, 1, device));
    CUDA_CHECK(cudaMemsetAsync(bits, 0, sizeof(uint32_t), stream));
    rsa_cuda::row_shifts(x.data(), k, p, shift, bits, nonfinite, stream);
  }
  const float* shift = shift_.data<float>();
  const uint32_t* bits = reinterpret_cast<const uint32_t*>(bits_.data<int32_t>());
  const float one = 1.0f, zero = 0.0f;
  // The handle is shared with the fully connected layers, which set their own math mode: in
  // the default mode only the compute type below decides whether tensor cores round to TF32.
  cublasHandle_t blas = context_.cublas();
  CUBLAS_CHECK(cublasSetMathMode(blas, CUBLAS_DEFAULT_MATH));
  for (int64_t first = 0; first < p; first += kGramBlock) {
    const int64_t width = std::min(kGramBlock, p - first);
    if (centring == Centring::columns)
      cka_cuda::centre_column_block(x.data(), k, p, first, width, shift, bits, block, stream);
    else
      rsa_cuda::centre_row_block(x.data(), k, p, first, width, shift, bits, block, stream);
    // The row-major (k, w) block is, to cuBLAS, a column-major (w, k) matrix A with leading
    // dimension w; partial (k, k) = A^T A holds the inner products of the k examples.
    const cublasComputeType_t compute = precision_ == GramPrecision::tf32 && width >= kTf32MinColumns
                                            ? CUBLAS_COMPUTE_32F_FAST_TF32
                                            : CUBLAS_COMPUTE_32F;
    const int n = static_cast<int>(k), w = static_cast<int>(width);
    CUBLAS_CHECK(cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, n, n, w, &one, block, CUDA_R_32F, w, block, CUDA_R_32F,
                              w, &zero, partial, CUDA_R_32F, n, compute, CUBLAS_GEMM_DEFAULT));
    cka_cuda::add_gram_block(partial, k, first == 0, gram, stream);
  }
  cka_cuda::unscale_gram(gram, k, bits, stream);
}

}  // namespace convlab::cka
