// CPU global average pooling and softmax cross-entropy.
#include "framework/backend/cpu/cpu_common.h"
#include "framework/backend/cpu/cpu_ops.h"
#include "kernels/softmax_xent.h"

#include <cmath>

namespace convlab::backend_cpu {

namespace {
// Element i of the plane of row r = (n, c) of an (N, C, ...) tensor, in either format.
int64_t plane_element(const Tensor& x, int64_t r, int64_t plane, int64_t i) {
  if (!x.channels_last()) return r * plane + i;
  const int64_t channels = x.dim(1), n = r / channels, c = r - n * channels;
  return (n * plane + i) * channels + c;
}
}  // namespace

// y (N, C) in the dtype of y (f32 for bf16 activations: the reductions stay in float).
void global_avg_pool_forward(const Tensor& x, Tensor& y) {
  const int64_t rows = x.dim(0) * x.dim(1), plane = x.numel() / rows;
  CONVLAB_CHECK(y.numel() == rows && y.dtype() == x.dtype(), "global_avg_pool_forward: {} for {}", y.describe(),
                x.describe());
  dispatch_floating(x.dtype(), "global_avg_pool_forward", [&]<class T>(T) {
    const T* px = x.host<T>();
    T* py = y.host<T>();
    for (int64_t r = 0; r < rows; ++r) {
      double total = 0;
      for (int64_t i = 0; i < plane; ++i) total += px[plane_element(x, r, plane, i)];
      py[r] = static_cast<T>(total / plane);
    }
  });
}

void global_avg_pool_backward(const Tensor& grad_y, Tensor& grad_x) {
  const int64_t rows = grad_x.dim(0) * grad_x.dim(1), plane = grad_x.numel() / rows;
  CONVLAB_CHECK(grad_y.numel() == rows && grad_y.dtype() == grad_x.dtype(), "global_avg_pool_backward: {} for {}",
                grad_y.describe(), grad_x.describe());
  dispatch_floating(grad_x.dtype(), "global_avg_pool_backward", [&]<class T>(T) {
    const T* pg = grad_y.host<T>();
    T* px = grad_x.host<T>();
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < plane; ++i) px[plane_element(grad_x, r, plane, i)] = pg[r] / static_cast<T>(plane);
  });
}

namespace {
void check_labels(const Tensor& logits, const Tensor& labels, const char* op) {
  CONVLAB_CHECK(logits.rank() == 2 && labels.dtype() == DType::i32 && labels.numel() == logits.dim(0),
                "{}: logits {} and labels {} (want (N, K) and (N) i32)", op, logits.describe(), labels.describe());
  const int32_t* pl = labels.host<int32_t>();
  for (int64_t i = 0; i < labels.numel(); ++i)
    CONVLAB_CHECK(pl[i] >= 0 && pl[i] < logits.dim(1), "{}: label {} of example {} is outside 0..{}", op,
                  pl[i], i, logits.dim(1) - 1);
}
}  // namespace

void softmax_xent_forward(const Tensor& logits, const Tensor& labels, Tensor& loss, Tensor& probs) {
  check_labels(logits, labels, "softmax_xent_forward");
  check_same_shape(logits, probs, "softmax_xent_forward");
  dispatch_floating(logits.dtype(), "softmax_xent_forward", [&]<class T>(T) {
    const int64_t batch = logits.dim(0), classes = logits.dim(1);
    double total = 0;
    for (int64_t n = 0; n < batch; ++n)
      total += kernels::softmax_xent_row(logits.host<T>() + n * classes, static_cast<int>(classes),
                                         labels.host<int32_t>()[n], probs.host<T>() + n * classes);
    loss.host<T>()[0] = static_cast<T>(total / batch);
  });
}

void softmax_xent_backward(const Tensor& probs, const Tensor& labels, const Tensor& grad_loss, Tensor& grad_logits) {
  check_labels(probs, labels, "softmax_xent_backward");
  check_same_shape(probs, grad_logits, "softmax_xent_backward");
  dispatch_floating(probs.dtype(), "softmax_xent_backward", [&]<class T>(T) {
    const int64_t batch = probs.dim(0), classes = probs.dim(1);
    const T g = grad_loss.host<T>()[0];
    for (int64_t n = 0; n < batch; ++n)
      for (int64_t k = 0; k < classes; ++k)
        grad_logits.host<T>()[n * classes + k] = kernels::softmax_xent_grad(
            probs.host<T>()[n * classes + k], k == labels.host<int32_t>()[n], g, static_cast<int>(batch));
  });
}

void track_nonfinite(const Tensor& value, const Tensor& step, Tensor& first_bad_step) {
  CONVLAB_CHECK(value.numel() == 1 && first_bad_step.dtype() == DType::i32 && first_bad_step.numel() == 1 &&
                    step.dtype() == DType::i32 && step.numel() == 1,
                "track_nonfinite: value {}, step {} and first_bad_step {}", value.describe(), step.describe(),
                first_bad_step.describe());
  dispatch_floating(value.dtype(), "track_nonfinite", [&]<class T>(T) {
    int32_t& first = first_bad_step.host<int32_t>()[0];
    if (first < 0 && !std::isfinite(value.host<T>()[0])) first = step.host<int32_t>()[0];
  });
}

void increment(Tensor& counter, int64_t amount) {
  CONVLAB_CHECK(counter.dtype() == DType::i32 && counter.numel() == 1, "increment: {} is not one i32",
                counter.describe());
  counter.host<int32_t>()[0] += static_cast<int32_t>(amount);
}

void count_correct(const Tensor& logits, const Tensor& labels, Tensor& correct) {
  check_labels(logits, labels, "count_correct");
  dispatch_floating(logits.dtype(), "count_correct", [&]<class T>(T) {
    const int64_t batch = logits.dim(0), classes = logits.dim(1);
    int64_t hits = 0;
    for (int64_t n = 0; n < batch; ++n)
      hits += kernels::argmax_row(logits.host<T>() + n * classes, static_cast<int>(classes)) ==
              labels.host<int32_t>()[n];
    correct.host<float>()[0] = static_cast<float>(hits);
  });
}

}  // namespace convlab::backend_cpu
