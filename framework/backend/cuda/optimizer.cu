// Multi-tensor optimiser kernels: one launch covers up to kMaxTensors tensors, whose
// pointers and sizes travel as a kernel parameter (no table to upload, so nothing waits for
// the host). Each tensor is cut into chunks of kChunk elements, one block per chunk. The
// learning rate and the gradient's sum of squares are read on the device.
#include "framework/backend/cuda/block_reduce.cuh"
#include "framework/backend/cuda/cuda_ops.h"
#include "framework/backend/cuda/kernel_launch.h"
#include "framework/backend/cuda/reduce.h"
#include "kernels/sgd.h"

namespace convlab::backend_cuda {
namespace {

constexpr int kMaxTensors = 48;   // per launch; keeps the parameter block under 4 KiB
constexpr int64_t kChunk = 8192;  // elements per block

int64_t chunks_of(int64_t n) { return (n + kChunk - 1) / kChunk; }

// The tensor that block b works on: first_block[t] <= b < first_block[t + 1].
__device__ int tensor_of_block(const int* first_block, int count, int block) {
  int t = 0;
  while (t + 1 < count && first_block[t + 1] <= block) ++t;
  return t;
}

struct SumsBatch {
  const float* param[kMaxTensors];
  const float* grad[kMaxTensors];
  int64_t size[kMaxTensors];
  int first_block[kMaxTensors + 1];  // prefix sums of the chunk counts
  int count;
};

struct SgdBatch {
  float* param[kMaxTensors];
  const float* grad[kMaxTensors];
  float* momentum[kMaxTensors];
  int64_t size[kMaxTensors];
  int first_block[kMaxTensors + 1];
  int count;
};

// Double partial sums over one chunk of (g + 2 l2 p)^2 into grad_partials[blockIdx.x] and of
// p^2 into param_partials[blockIdx.x] (the caller offsets both per launch). A float squared
// is exact in double, as on the CPU.
__global__ void sgd_sums_chunks_kernel(SumsBatch batch, float two_l2, double* grad_partials,
                                       double* param_partials) {
  __shared__ double scratch[32];
  const int block = static_cast<int>(blockIdx.x);
  const int t = tensor_of_block(batch.first_block, batch.count, block);
  const int64_t begin = (block - batch.first_block[t]) * kChunk;
  const int64_t end = begin + kChunk < batch.size[t] ? begin + kChunk : batch.size[t];
  const float* p = batch.param[t];
  const float* g = batch.grad[t];
  double grad_total = 0, param_total = 0;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    const double total_grad = kernels::penalised_grad(g[i], p[i], two_l2);
    const double v = p[i];
    grad_total += total_grad * total_grad;
    param_total += v * v;
  }
  grad_total = block_sum(grad_total, scratch);
  param_total = block_sum(param_total, scratch);
  if (threadIdx.x == 0) {
    grad_partials[block] = grad_total;
    param_partials[block] = param_total;
  }
}

__global__ void sgd_chunks_kernel(SgdBatch batch, const float* grad_sum_squares, const float* lr, float max_norm,
                                  float momentum, bool nesterov, float decoupled_decay, float two_l2) {
  const int block = static_cast<int>(blockIdx.x);
  const int t = tensor_of_block(batch.first_block, batch.count, block);
  const int64_t begin = (block - batch.first_block[t]) * kChunk;
  const int64_t end = begin + kChunk < batch.size[t] ? begin + kChunk : batch.size[t];
  const float clip = kernels::clip_scale(grad_sum_squares[0], max_norm);
  const float rate = lr[0];
  float* p = batch.param[t];
  const float* g = batch.grad[t];
  float* m = batch.momentum[t];
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x)
    kernels::sgd_element(p[i], g[i], m[i], rate, clip, momentum, nesterov, decoupled_decay, two_l2);
}

// Calls launch(first, last, blocks) for consecutive runs of at most kMaxTensors non-empty
// tensors; `sizes` are their element counts.
template <class Launch>
void for_each_batch(const std::vector<int64_t>& sizes, Launch&& launch) {
  size_t first = 0;
  while (first < sizes.size()) {
    size_t last = first;
    int64_t blocks = 0;
    while (last < sizes.size() && last - first < static_cast<size_t>(kMaxTensors)) blocks += chunks_of(sizes[last++]);
    CONVLAB_CHECK(blocks <= INT32_MAX, "multi-tensor launch of {} blocks is too large", blocks);
    launch(first, last, static_cast<int>(blocks));
    first = last;
  }
}

}  // namespace

void sgd_sums(const std::vector<const Tensor*>& params, const std::vector<const Tensor*>& grads, double l2,
              Tensor& grad_sum_squares, Tensor& param_sum_squares) {
  const char* op = "sgd_sums";
  CONVLAB_CHECK(!params.empty() && params.size() == grads.size(), "{}: {} parameters and {} gradients", op,
                params.size(), grads.size());
  check_f32({&grad_sum_squares, &param_sum_squares}, op);
  CONVLAB_CHECK(grad_sum_squares.numel() == 1 && param_sum_squares.numel() == 1,
                "{}: the outputs {} and {} must be one element each", op, grad_sum_squares.describe(),
                param_sum_squares.describe());
  std::vector<size_t> nonempty;
  std::vector<int64_t> sizes;
  int64_t total_blocks = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    check_f32({params[i], grads[i]}, op);
    check_same_shape(*params[i], *grads[i], op);
    CONVLAB_CHECK(params[i]->device() == grad_sum_squares.device() && grads[i]->device() == grad_sum_squares.device(),
                  "{}: parameter {} is not on {}", op, i, grad_sum_squares.device().name());
    if (params[i]->numel() == 0) continue;
    nonempty.push_back(i);
    sizes.push_back(params[i]->numel());
    total_blocks += chunks_of(params[i]->numel());
  }
  CONVLAB_CHECK(total_blocks <= INT32_MAX / 2, "{}: {} chunks are too many", op, total_blocks);
  const cudaStream_t stream = stream_of(grad_sum_squares);
  const int64_t slots = std::max<int64_t>(total_blocks, 1);
  Tensor partials = Tensor::empty({2 * slots}, DType::f64, grad_sum_squares.device());  // (2, chunks)
  double* grad_partials = partials.data<double>();
  double* param_partials = grad_partials + slots;
  if (total_blocks == 0) CUDA_CHECK(cudaMemsetAsync(grad_partials, 0, 2 * sizeof(double) * slots, stream));
  const float two_l2 = static_cast<float>(2.0 * l2);
  int64_t offset = 0;
  for_each_batch(sizes, [&](size_t first, size_t last, int blocks) {
    SumsBatch batch{};
    batch.count = static_cast<int>(last - first);
    batch.first_block[0] = 0;
    for (size_t i = first; i < last; ++i) {
      const size_t k = i - first, at = nonempty[i];
      batch.param[k] = params[at]->data<float>();
      batch.grad[k] = grads[at]->data<float>();
      batch.size[k] = sizes[i];
      batch.first_block[k + 1] = batch.first_block[k] + static_cast<int>(chunks_of(sizes[i]));
    }
    sgd_sums_chunks_kernel<<<blocks, kThreads, 0, stream>>>(batch, two_l2, grad_partials + offset,
                                                            param_partials + offset);
    CUDA_CHECK_LAUNCH();
    offset += blocks;
  });
  finish_sum(grad_partials, static_cast<int>(slots), 1.0, grad_sum_squares.data<float>(), stream);
  finish_sum(param_partials, static_cast<int>(slots), 1.0, param_sum_squares.data<float>(), stream);
}

void sgd_update(const std::vector<Tensor*>& params, const std::vector<const Tensor*>& grads,
                const std::vector<Tensor*>& momenta, const Tensor& grad_sum_squares, const Tensor& lr,
                const SgdConfig& config) {
  const char* op = "sgd_update";
  CONVLAB_CHECK(params.size() == grads.size() && params.size() == momenta.size(),
                "sgd_update: {} parameters, {} gradients, {} momentum buffers", params.size(), grads.size(),
                momenta.size());
  check_f32({&grad_sum_squares, &lr}, op);
  CONVLAB_CHECK(grad_sum_squares.numel() == 1 && lr.numel() == 1,
                "{}: grad_sum_squares {} and lr {} must be one element", op, grad_sum_squares.describe(),
                lr.describe());
  std::vector<size_t> nonempty;
  std::vector<int64_t> sizes;
  for (size_t i = 0; i < params.size(); ++i) {
    check_f32({params[i], grads[i], momenta[i]}, op);
    check_same_shape(*params[i], *grads[i], op);
    check_same_shape(*params[i], *momenta[i], op);
    CONVLAB_CHECK(params[i]->device() == lr.device() && grads[i]->device() == lr.device() &&
                      momenta[i]->device() == lr.device() && grad_sum_squares.device() == lr.device(),
                  "{}: parameter {} and lr {} are on different devices", op, i, lr.describe());
    if (params[i]->numel() == 0) continue;
    nonempty.push_back(i);
    sizes.push_back(params[i]->numel());
  }
  const cudaStream_t stream = stream_of(lr);
  for_each_batch(sizes, [&](size_t first, size_t last, int blocks) {
    SgdBatch batch{};
    batch.count = static_cast<int>(last - first);
    batch.first_block[0] = 0;
    for (size_t i = first; i < last; ++i) {
      const size_t k = i - first, at = nonempty[i];
      batch.param[k] = params[at]->data<float>();
      batch.grad[k] = grads[at]->data<float>();
      batch.momentum[k] = momenta[at]->data<float>();
      batch.size[k] = sizes[i];
      batch.first_block[k + 1] = batch.first_block[k] + static_cast<int>(chunks_of(sizes[i]));
    }
    sgd_chunks_kernel<<<blocks, kThreads, 0, stream>>>(
        batch, grad_sum_squares.data<float>(), lr.data<float>(), static_cast<float>(config.max_norm),
        static_cast<float>(config.momentum), config.nesterov, static_cast<float>(config.decoupled_decay),
        static_cast<float>(2.0 * config.l2));
    CUDA_CHECK_LAUNCH();
  });
}

}  // namespace convlab::backend_cuda
