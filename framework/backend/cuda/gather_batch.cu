// CUDA batch assembly: one block per example gathers, normalises and augments its 3x32x32
// pixels through kernels/augment.h, the same code the CPU runs, so batches match bitwise.
#include <cmath>

#include "framework/backend/cuda/cuda_ops.h"
#include "framework/backend/cuda/kernel_launch.h"
#include "framework/backend/cuda/storage.cuh"

namespace convlab::backend_cuda {
namespace {

using kernels::kImageChannels;
using kernels::kImageSize;
constexpr int kPixels = kImageChannels * kImageSize * kImageSize;

// Every thread draws the example's transform itself (four Philox words): cheaper than a
// shared-memory handoff and obviously consistent.
// The batch is f32 or bf16 (rounded once, from the same float), contiguous or channels_last.
template <class S>
__global__ void gather_batch_kernel(const uint8_t* images, int64_t num_images, const uint8_t* labels,
                                    const int32_t* indices, kernels::AugmentConfig config, bool augment,
                                    uint64_t seed, uint32_t epoch, bool channels_last, S* batch,
                                    int32_t* labels_out) {
  const int64_t b = blockIdx.x;
  const int32_t example = indices[b];
  S* dst = batch + b * kPixels;
  if (example < 0 || example >= num_images) {  // not checked on the host: make it visible
    for (int p = threadIdx.x; p < kPixels; p += blockDim.x) store(dst, p, NAN);
    if (threadIdx.x == 0) labels_out[b] = -1;
    return;
  }
  const uint8_t* image = images + static_cast<int64_t>(example) * kPixels;
  const kernels::ExampleTransform t = augment
                                          ? kernels::draw_transform(config, seed, epoch, static_cast<uint64_t>(example))
                                          : kernels::ExampleTransform{};
  for (int p = threadIdx.x; p < kPixels; p += blockDim.x) {
    const int c = p / (kImageSize * kImageSize);
    const int y = (p / kImageSize) % kImageSize;
    const int x = p % kImageSize;
    const int to = channels_last ? (y * kImageSize + x) * kImageChannels + c : p;
    store(dst, to, augment ? kernels::augmented_pixel(config, t, image, c, y, x)
                           : kernels::normalise_pixel(config, c, image[p]));
  }
  if (threadIdx.x == 0) labels_out[b] = labels[example];
}

}  // namespace

void gather_batch(const Tensor& images, const Tensor& labels, const Tensor& order, int64_t first,
                  const kernels::AugmentConfig& config, bool augment, uint64_t seed, uint32_t epoch, Tensor& batch,
                  Tensor& labels_out) {
  const char* op = "gather_batch";
  check_cuda(images, DType::u8, op);
  check_cuda(labels, DType::u8, op);
  check_cuda(order, DType::i32, op);
  check_storage({&batch}, op);
  check_cuda(labels_out, DType::i32, op);
  const int64_t count = batch.rank() == 4 ? batch.dim(0) : -1;
  CONVLAB_CHECK(first >= 0 && count >= 0 && first + count <= order.numel(), "{}: examples [{}, {}) of an order of {}",
                op, first, first + count, order.numel());
  CONVLAB_CHECK(images.rank() == 4 && images.dim(1) == kImageChannels && images.dim(2) == kImageSize &&
                    images.dim(3) == kImageSize,
                "{}: images {} must be u8 (M, 3, 32, 32)", op, images.describe());
  CONVLAB_CHECK(labels.numel() == images.dim(0), "{}: labels {} for images {}", op, labels.describe(),
                images.describe());
  CONVLAB_CHECK(batch.shape() == Shape({count, kImageChannels, kImageSize, kImageSize}) && labels_out.numel() == count,
                "{}: order {}, batch {}, labels {}", op, order.describe(), batch.describe(), labels_out.describe());
  CONVLAB_CHECK(count <= INT32_MAX, "{}: {} examples is too many for one launch", op, count);
  if (count == 0) return;
  dispatch_storage(batch, op, [&](auto tag) {
    using S = decltype(tag);
    gather_batch_kernel<<<static_cast<unsigned>(count), kThreads, 0, stream_of(batch)>>>(
        images.data<uint8_t>(), images.dim(0), labels.data<uint8_t>(), order.data<int32_t>() + first, config, augment,
        seed, epoch, batch.channels_last(), batch.data<S>(), labels_out.data<int32_t>());
  });
  CUDA_CHECK_LAUNCH();
}

}  // namespace convlab::backend_cuda
