#include "framework/train/evaluate.h"

#include <numeric>

#include "framework/ops/ops.h"
#include "framework/train/batches.h"

namespace convlab {

EvalResult evaluate(nn::Model& model, const DeviceImageSet& data, int64_t batch_size,
                    const kernels::AugmentConfig& config, const BatchStorage& storage) {
  CONVLAB_CHECK(data.size() > 0 && batch_size > 0, "evaluation needs examples ({}) and a batch size ({})",
                data.size(), batch_size);
  model.eval();
  model.fold_batchnorm();  // each BatchNorm into its convolution, from the statistics as they are now
  NoGradGuard no_grad;
  const Device device = data.images.device();
  const Backend& be = backend(device);
  const Tensor order = identity_order(data.size(), device);
  // Sums stay on the device; one read at the end.
  Tensor loss_sum = Tensor::zeros({1}, DType::f32, device);
  Tensor correct_sum = Tensor::zeros({1}, DType::f32, device);
  Tensor correct = Tensor::empty({1}, DType::f32, device);
  nn::ForwardContext ctx;
  for (int64_t first = 0; first < data.size(); first += batch_size) {
    const int64_t count = std::min(batch_size, data.size() - first);
    Batch batch = assemble_batch(data, order, first, count, config, /*augment=*/false, 0, 0, storage);
    const Variable logits = model.forward(Variable(std::move(batch.images)), ctx);
    const Variable loss = ops::softmax_cross_entropy(logits, batch.labels);
    be.axpy(static_cast<double>(count), loss.value(), loss_sum);
    be.count_correct(logits.value(), batch.labels, correct);
    be.axpy(1.0, correct, correct_sum);
  }
  model.unfold_batchnorm();
  EvalResult result;
  result.examples = data.size();
  result.loss = loss_sum.to(cpu()).item() / data.size();
  result.accuracy = correct_sum.to(cpu()).item() / data.size();
  return result;
}

}  // namespace convlab
