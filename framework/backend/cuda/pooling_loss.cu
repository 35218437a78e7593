// CUDA global average pooling, softmax cross-entropy, divergence tracking and accuracy
// counting, with the row math of kernels/softmax_xent.h. Sums are in double in a fixed
// order (deterministic).
#include <cmath>

#include "framework/backend/cuda/block_reduce.cuh"
#include "framework/backend/cuda/cuda_ops.h"
#include "framework/backend/cuda/elementwise_map.cuh"
#include "framework/backend/cuda/kernel_launch.h"
#include "framework/backend/cuda/reduce.h"
#include "framework/backend/cuda/storage.cuh"
#include "kernels/softmax_xent.h"

namespace convlab::backend_cuda {
namespace {

constexpr int kWarpsPerBlock = kThreads / 32;

// Contiguous: one warp per (image, channel) row, the lanes striding over the plane, then a
// warp sum. channels_last: one thread per (image, channel), adding the plane in order, a
// warp reading 32 neighbouring channels of a pixel at once. Sums in double either way; the
// pooled values are f32 whatever the activations' storage.
template <class S>
__global__ void avg_pool_forward_kernel(const S* x, int64_t rows, int64_t plane, float* y) {
  const int64_t row = blockIdx.x * int64_t(kWarpsPerBlock) + threadIdx.x / 32;
  if (row >= rows) return;  // the whole warp leaves together
  const int lane = threadIdx.x & 31;
  double total = 0;
  for (int64_t i = lane; i < plane; i += 32) total += load(x, row * plane + i);
  total = warp_sum(total);
  if (lane == 0) y[row] = static_cast<float>(total / static_cast<double>(plane));
}

template <class S>
__global__ void avg_pool_forward_last_kernel(const S* x, int64_t batch, int64_t channels, int64_t plane, float* y) {
  const int64_t row = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;  // n C + c
  if (row >= batch * channels) return;
  const int64_t n = row / channels, c = row - n * channels;
  double total = 0;
  for (int64_t i = 0; i < plane; ++i) total += load(x, (n * plane + i) * channels + c);
  y[row] = static_cast<float>(total / static_cast<double>(plane));
}

// Every element of the plane gets its row's gradient over the plane's size (an element-wise
// write, through launch_map's 16-byte stores).
struct PoolGradient {
  const float* grad_y;
  int64_t channels, plane;
  bool channels_last;
  __device__ float operator()(int64_t i, const float (&)[1]) const {
    const int64_t row = channels_last ? i / (plane * channels) * channels + i % channels : i / plane;
    return grad_y[row] / static_cast<float>(plane);
  }
};

// One thread per row: the row's loss and probabilities, then a block sum of the losses.
__global__ void softmax_xent_rows_kernel(const float* logits, const int32_t* labels, int64_t batch, int classes,
                                         float* probs, double* partials) {
  __shared__ double scratch[32];
  const int64_t row = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  double loss = 0;
  if (row < batch) {
    const int label = labels[row];
    float* p = probs + row * classes;
    if (label >= 0 && label < classes) {
      loss = kernels::softmax_xent_row(logits + row * classes, classes, label, p);
    } else {  // no host check on device labels: make the mistake visible instead
      loss = NAN;
      for (int k = 0; k < classes; ++k) p[k] = NAN;
    }
  }
  loss = block_sum(loss, scratch);
  if (threadIdx.x == 0) partials[blockIdx.x] = loss;
}

__global__ void softmax_xent_backward_kernel(const float* probs, const int32_t* labels, const float* grad_loss,
                                             int64_t batch, int classes, float* grad_logits, int64_t n) {
  const float g = grad_loss[0];
  CONVLAB_FOR_EACH(i, n) {
    const int64_t row = i / classes;
    const int k = static_cast<int>(i - row * classes);
    grad_logits[i] = kernels::softmax_xent_grad(probs[i], k == labels[row], g, static_cast<int>(batch));
  }
}

__global__ void track_nonfinite_kernel(const float* value, const int32_t* step, int32_t* first_bad_step) {
  if (first_bad_step[0] < 0 && !isfinite(value[0])) first_bad_step[0] = step[0];
}

__global__ void increment_kernel(int32_t* counter, int32_t amount) { counter[0] += amount; }

// One block: each thread counts its rows, then a block sum (integers: exact in any order).
__global__ void count_correct_kernel(const float* logits, const int32_t* labels, int64_t batch, int classes,
                                     float* correct) {
  __shared__ long long scratch[32];
  long long hits = 0;
  for (int64_t row = threadIdx.x; row < batch; row += blockDim.x)
    hits += kernels::argmax_row(logits + row * classes, classes) == labels[row];
  hits = block_sum(hits, scratch);
  if (threadIdx.x == 0) correct[0] = static_cast<float>(hits);
}

void check_labels(const Tensor& logits, const Tensor& labels, const char* op) {
  check_f32({&logits}, op);
  check_cuda(labels, DType::i32, op);
  CONVLAB_CHECK(logits.rank() == 2 && labels.numel() == logits.dim(0) && logits.dim(1) >= 1 &&
                    logits.dim(1) <= (int64_t{1} << 30) && logits.dim(0) <= (int64_t{1} << 30),
                "{}: logits {} and labels {} (want (N, K) and (N) i32)", op, logits.describe(), labels.describe());
}

void check_pool(const Tensor& x, const Tensor& y, const char* op) {
  check_storage({&x}, op);
  check_f32({&y}, op);
  CONVLAB_CHECK(x.rank() >= 2 && y.numel() == x.dim(0) * x.dim(1), "{}: {} for {}", op, y.describe(), x.describe());
}

}  // namespace

void global_avg_pool_forward(const Tensor& x, Tensor& y) {
  check_pool(x, y, "global_avg_pool_forward");
  const int64_t rows = x.dim(0) * x.dim(1);
  if (rows == 0) return;
  const int64_t plane = x.numel() / rows;
  dispatch_storage(x, "global_avg_pool_forward", [&](auto tag) {
    using S = decltype(tag);
    if (x.channels_last()) {
      const int64_t blocks = (rows + kThreads - 1) / kThreads;
      avg_pool_forward_last_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream_of(x)>>>(
          x.data<S>(), x.dim(0), x.dim(1), plane, y.data<float>());
    } else {
      const int64_t blocks = (rows + kWarpsPerBlock - 1) / kWarpsPerBlock;
      CONVLAB_CHECK(blocks <= INT32_MAX, "global_avg_pool_forward: {} is too large", x.describe());
      avg_pool_forward_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream_of(x)>>>(x.data<S>(), rows, plane,
                                                                                            y.data<float>());
    }
  });
  CUDA_CHECK_LAUNCH();
}

void global_avg_pool_backward(const Tensor& grad_y, Tensor& grad_x) {
  check_pool(grad_x, grad_y, "global_avg_pool_backward");
  const int64_t rows = grad_x.dim(0) * grad_x.dim(1);
  const int64_t n = grad_x.numel();
  if (rows == 0 || n == 0) return;
  dispatch_storage(grad_x, "global_avg_pool_backward", [&](auto tag) {
    using S = decltype(tag);
    launch_map<S, 0>({}, grad_x.data<S>(), n, stream_of(grad_x),
                     PoolGradient{grad_y.data<float>(), grad_x.dim(1), n / rows, grad_x.channels_last()});
  });
}

void softmax_xent_forward(const Tensor& logits, const Tensor& labels, Tensor& loss, Tensor& probs) {
  const char* op = "softmax_xent_forward";
  check_labels(logits, labels, op);
  check_f32({&loss, &probs}, op);
  check_same_shape(logits, probs, op);
  CONVLAB_CHECK(loss.numel() == 1, "{}: the loss {} must be one element", op, loss.describe());
  const int64_t batch = logits.dim(0);
  const int classes = static_cast<int>(logits.dim(1));
  CONVLAB_CHECK(batch > 0, "{}: an empty batch has no mean loss", op);
  const cudaStream_t stream = stream_of(logits);
  const int blocks = static_cast<int>((batch + kThreads - 1) / kThreads);
  Tensor partials = Tensor::empty({blocks}, DType::f64, logits.device());  // (blocks)
  softmax_xent_rows_kernel<<<blocks, kThreads, 0, stream>>>(logits.data<float>(), labels.data<int32_t>(), batch,
                                                            classes, probs.data<float>(), partials.data<double>());
  CUDA_CHECK_LAUNCH();
  finish_sum(partials.data<double>(), blocks, static_cast<double>(batch), loss.data<float>(), stream);
}

void softmax_xent_backward(const Tensor& probs, const Tensor& labels, const Tensor& grad_loss, Tensor& grad_logits) {
  const char* op = "softmax_xent_backward";
  check_labels(probs, labels, op);
  check_f32({&grad_loss, &grad_logits}, op);
  check_same_shape(probs, grad_logits, op);
  CONVLAB_CHECK(grad_loss.numel() == 1, "{}: the loss gradient {} must be one element", op, grad_loss.describe());
  const int64_t n = probs.numel();
  if (n == 0) return;
  softmax_xent_backward_kernel<<<blocks_for(n), kThreads, 0, stream_of(probs)>>>(
      probs.data<float>(), labels.data<int32_t>(), grad_loss.data<float>(), probs.dim(0),
      static_cast<int>(probs.dim(1)), grad_logits.data<float>(), n);
  CUDA_CHECK_LAUNCH();
}

void track_nonfinite(const Tensor& value, const Tensor& step, Tensor& first_bad_step) {
  const char* op = "track_nonfinite";
  check_f32({&value}, op);
  check_cuda(step, DType::i32, op);
  check_cuda(first_bad_step, DType::i32, op);
  CONVLAB_CHECK(value.numel() == 1 && step.numel() == 1 && first_bad_step.numel() == 1,
                "{}: value {}, step {} and first_bad_step {}", op, value.describe(), step.describe(),
                first_bad_step.describe());
  track_nonfinite_kernel<<<1, 1, 0, stream_of(value)>>>(value.data<float>(), step.data<int32_t>(),
                                                        first_bad_step.data<int32_t>());
  CUDA_CHECK_LAUNCH();
}

void increment(Tensor& counter, int64_t amount) {
  check_cuda(counter, DType::i32, "increment");
  CONVLAB_CHECK(counter.numel() == 1, "increment: {} is not one i32", counter.describe());
  increment_kernel<<<1, 1, 0, stream_of(counter)>>>(counter.data<int32_t>(), static_cast<int32_t>(amount));
  CUDA_CHECK_LAUNCH();
}

void count_correct(const Tensor& logits, const Tensor& labels, Tensor& correct) {
  const char* op = "count_correct";
  check_labels(logits, labels, op);
  check_f32({&correct}, op);
  CONVLAB_CHECK(correct.numel() == 1, "{}: the count {} must be one element", op, correct.describe());
  count_correct_kernel<<<1, kThreads, 0, stream_of(logits)>>>(logits.data<float>(), labels.data<int32_t>(),
                                                              logits.dim(0), static_cast<int>(logits.dim(1)),
                                                              correct.data<float>());
  CUDA_CHECK_LAUNCH();
}

}  // namespace convlab::backend_cuda
