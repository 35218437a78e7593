#include "framework/procrustes/cuda/cuda_procrustes.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

#include "framework/backend/cuda/cuda_check.h"
#include "framework/backend/cuda/cuda_context.h"
#include "framework/backend/cuda/cusolver_check.h"
#include "framework/cka/cuda/launch.h"
#include "framework/procrustes/cuda/factor_kernels.h"
#include "kernels/procrustes.h"

namespace convlab::procrustes {

CudaProcrustesAccumulator::CudaProcrustesAccumulator(CudaContext& context, int64_t layers_a, int64_t layers_b,
                                                     cka::GramPrecision precision)
    : context_(context),
      pairs_(cka::LayerPairs::of(layers_a, layers_b)),
      terms_(pairs_.layers_a() * pairs_.layers_b()),
      forms_(static_cast<size_t>(pairs_.rows()), Form::automatic),
      warned_(static_cast<size_t>(pairs_.rows()), false) {
  gram_ = std::make_unique<cka::DeviceGram>(context_, precision);
}

CudaProcrustesAccumulator::~CudaProcrustesAccumulator() = default;

void CudaProcrustesAccumulator::release_workspace() {
  factors_.clear();
  block_ = Tensor();
  square_ = Tensor();
  pair_ = Tensor();
  small_ = Tensor();
  work_ = Tensor();
  gram_->release();
}

void CudaProcrustesAccumulator::add_batch(const std::vector<cka::DeviceFeatureView>& a) { accumulate(pairs_.batch_rows(a, "Procrustes")); }

void CudaProcrustesAccumulator::add_batch(const std::vector<cka::DeviceFeatureView>& a, const std::vector<cka::DeviceFeatureView>& b) {
  accumulate(pairs_.batch_rows(a, b, "Procrustes"));
}

void CudaProcrustesAccumulator::eigen(double* a, int64_t n, double* w, bool vectors, int* info) {
  const cusolverEigMode_t job = vectors ? CUSOLVER_EIG_MODE_VECTOR : CUSOLVER_EIG_MODE_NOVECTOR;
  size_t device_bytes = 0, host_bytes = 0;
  const cusolverStatus_t query =
      cusolverDnXsyevd_bufferSize(context_.cusolver(), context_.cusolver_params(), job, CUBLAS_FILL_MODE_UPPER, n,
                                  CUDA_R_64F, a, n, CUDA_R_64F, w, CUDA_R_64F, &device_bytes, &host_bytes);
  CONVLAB_CHECK(query == CUSOLVER_STATUS_SUCCESS,
                "cuSOLVER cannot decompose a {0} x {0} matrix (its Xsyevd workspace query failed with status {1}): "
                "lower --batch-size", n, static_cast<int>(query));
  void* work = cka::reserve<uint8_t>(work_, static_cast<int64_t>(device_bytes), Device(&context_));
  if (host_work_.size() < host_bytes) host_work_.resize(host_bytes);
  CUSOLVER_CHECK(cusolverDnXsyevd(context_.cusolver(), context_.cusolver_params(), job, CUBLAS_FILL_MODE_UPPER, n, CUDA_R_64F, a, n, CUDA_R_64F, w,
                                  CUDA_R_64F, work, device_bytes, host_bytes ? host_work_.data() : nullptr, host_bytes,
                                  info));
}

void CudaProcrustesAccumulator::accumulate(const std::vector<const cka::DeviceFeatureView*>& layers) {
  const int64_t r = pairs_.rows(), k = layers[0]->rows();
  const int64_t la = pairs_.layers_a(), lb = pairs_.layers_b();
  const Device device(&context_);
  for (const cka::DeviceFeatureView* v : layers) {
    CONVLAB_CHECK(v->rows() == k, "every layer of a batch holds the same examples: {} has {} rows, {} has {}",
                  layers[0]->label(), k, v->label(), v->rows());
    CONVLAB_CHECK(v->device() == device, "{} is on {}, but this Procrustes accumulator runs on {}", v->label(),
                  v->device().name(), context_.name());
  }
  CONVLAB_CHECK(k >= kMinExamples && k <= kMaxExamples,
                "the CUDA Procrustes distance takes {} to {} examples per batch, got {}", kMinExamples, kMaxExamples,
                k);
  const cudaStream_t stream = context_.stream();
  // What comes back: (L, M) nuclear norms, a scratch slot, then i32: R constant flags, R
  // non-finite flags, and one cuSOLVER info per eigendecomposition (R + L M at most).
  const int64_t ints = 2 * r + r + la * lb;
  double* back = cka::reserve<double>(back_, la * lb + 1 + (ints + 1) / 2, device);
  double* nuclear = back;
  double* slot = back + la * lb;
  int32_t* constant = reinterpret_cast<int32_t*>(back + la * lb + 1);
  int32_t* nonfinite = constant + r;
  int* info = reinterpret_cast<int*>(nonfinite + r);
  CUDA_CHECK(cudaMemsetAsync(back, 0, static_cast<size_t>(la * lb + 1) * sizeof(double) + ints * sizeof(int32_t),
                             stream));
  double* square = cka::reserve<double>(square_, k * k, device);
  double* lambda = cka::reserve<double>(lambda_, k, device);
  factors_.resize(static_cast<size_t>(r));
  std::vector<int64_t> ranks(static_cast<size_t>(r));  // r_i: the factors' widths
  for (int64_t i = 0; i < r; ++i) {
    const cka::DeviceFeatureView& v = *layers[static_cast<size_t>(i)];
    pairs_.set_name(i, v.name());
    const Form form = form_for(k, v.cols());
    if (terms_.batches() == 0) forms_[static_cast<size_t>(i)] = form;
    if (form == Form::features) {
      const int64_t p = v.cols();
      ranks[i] = p;
      float* block = cka::reserve<float>(block_, k * p, device);
      // Centred, range-scaled columns: one statistics pass over the layer, one centring pass.
      gram_->centre_columns(v, block, nonfinite + i);
      double* f = cka::reserve<double>(factors_[i], k * p, device);
      procrustes_cuda::normalise_features(block, k * p, f, constant + i, slot, stream);
    } else {
      ranks[i] = k;
      gram_->compute(v, cka::Centring::columns, square, nonfinite + i);
      procrustes_cuda::normalise_gram(square, k, constant + i, slot, stream);
      eigen(square, k, lambda, /*vectors=*/true, info + i);
      double* f = cka::reserve<double>(factors_[i], k * k, device);
      procrustes_cuda::factor_from_eigen(square, lambda, k, f, stream);
    }
  }
  // Pairs: F row-major (k, r) is column-major (r, k), so C = F_i^T F_j = A_i A_j^T.
  cublasHandle_t blas = context_.cublas();
  const double one = 1.0, zero = 0.0;
  int64_t eigens = r;
  std::vector<std::pair<int64_t, int64_t>> eigen_pairs;  // the layers of each one after the R layers' own
  for (int64_t i = 0; i < la; ++i)
    for (int64_t j = pairs_.self() ? i : 0; j < lb; ++j) {
      const int64_t rb = pairs_.row_of_b(j);
      const double* fa = factors_[i].data<double>();
      const double* fb = factors_[rb].data<double>();
      double* out = nuclear + i * lb + j;
      if (pairs_.self() && i == j) {
        procrustes_cuda::squared_norm(fa, k * ranks[i], out, stream);  // F^T F is PSD: its trace
        continue;
      }
      const int64_t ra = ranks[i], rbw = ranks[rb], s = std::min(ra, rbw);
      double* c = cka::reserve<double>(pair_, ra * rbw, device);  // (ra, rb) column-major
      CUBLAS_CHECK(cublasDgemm(blas, CUBLAS_OP_N, CUBLAS_OP_T, static_cast<int>(ra), static_cast<int>(rbw),
                               static_cast<int>(k), &one, fa, static_cast<int>(ra), fb, static_cast<int>(rbw), &zero,
                               c, static_cast<int>(ra)));
      double* small = cka::reserve<double>(small_, s * s, device);
      if (ra <= rbw)  // C C^T (ra, ra)
        CUBLAS_CHECK(cublasDsyrk(blas, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_N, static_cast<int>(ra),
                                 static_cast<int>(rbw), &one, c, static_cast<int>(ra), &zero, small,
                                 static_cast<int>(ra)));
      else  // C^T C (rb, rb)
        CUBLAS_CHECK(cublasDsyrk(blas, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_T, static_cast<int>(rbw),
                                 static_cast<int>(ra), &one, c, static_cast<int>(ra), &zero, small,
                                 static_cast<int>(rbw)));
      eigen(small, s, lambda, /*vectors=*/false, info + eigens++);
      eigen_pairs.emplace_back(i, rb);
      procrustes_cuda::nuclear_from_eigenvalues(lambda, s, out, stream);
    }
  std::vector<double> host(static_cast<size_t>(la * lb + 1 + (ints + 1) / 2));
  context_.copy_to_host(host.data(), back, host.size() * sizeof(double));
  std::vector<int32_t> flags(static_cast<size_t>(ints));
  std::memcpy(flags.data(), host.data() + la * lb + 1, flags.size() * sizeof(int32_t));
  for (int64_t i = 0; i < r; ++i)
    CONVLAB_CHECK(flags[static_cast<size_t>(r + i)] == 0,
                  "{} has a NaN or infinite feature (batch {} of {} examples); the Procrustes distance needs finite "
                  "features",
                  pairs_.label(i), batches() + 1, k);
  for (int64_t e = 0; e < eigens; ++e) {
    const std::string of = e < r ? pairs_.label(e)
                                 : pairs_.label(eigen_pairs[static_cast<size_t>(e - r)].first) + " against " +
                                       pairs_.label(eigen_pairs[static_cast<size_t>(e - r)].second);
    CONVLAB_CHECK(flags[static_cast<size_t>(2 * r + e)] == 0,
                  "{}: cuSOLVER's eigendecomposition of batch {} failed (info {})", of, batches() + 1,
                  flags[static_cast<size_t>(2 * r + e)]);
  }
  std::vector<double> distance(static_cast<size_t>(la * lb), NAN);  // (L, M)
  for (int64_t i = 0; i < la; ++i)
    for (int64_t j = pairs_.self() ? i : 0; j < lb; ++j) {
      const bool undefined = flags[static_cast<size_t>(i)] != 0 || flags[static_cast<size_t>(pairs_.row_of_b(j))] != 0;
      const double d = undefined ? NAN : kernels::procrustes_from_nuclear(host[static_cast<size_t>(i * lb + j)]);
      distance[i * lb + j] = d;
      if (pairs_.self()) distance[j * lb + i] = d;
    }
  for (int64_t i = 0; i < r; ++i)
    if (flags[static_cast<size_t>(i)] != 0 && !warned_[static_cast<size_t>(i)]) {
      warned_[static_cast<size_t>(i)] = true;
      fmt::print(stderr,
                 "warning: the Procrustes distance with {} is undefined (NaN): its features are constant over a "
                 "batch\n",
                 pairs_.label(i));
    }
  terms_.add(distance, static_cast<double>(k));
}

}  // namespace convlab::procrustes
