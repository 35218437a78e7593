// CUDA batch normalisation over (N, H, W) per channel, with the per-element math of
// kernels/batchnorm.h, optionally fused with the ReLU that follows it. Activations are f32
// or bf16 (read into float, rounded once when stored), in either memory format; the
// per-channel parameters and statistics are f32. Statistics: one pass of double sums of
// (x - shift) and (x - shift)^2, shift = the channel's first element (so a large mean does
// not cancel the variance away), then per channel mean = shift + S1 / m,
// var = S2 / m - (S1 / m)^2: the CPU's two-pass result to within double rounding.
// Deterministic (channel_reduce.cuh).
#include "framework/backend/cuda/channel_reduce.cuh"
#include "framework/backend/cuda/cuda_ops.h"
#include "framework/backend/cuda/elementwise_map.cuh"
#include "framework/backend/cuda/storage.cuh"
#include "kernels/activation.h"
#include "kernels/batchnorm.h"

namespace convlab::backend_cuda {
namespace {

template <class S>
__global__ void moments_kernel(const S* x, ChannelLayout l, double* partials) {
  channel_partial_sums(
      l,
      [&](int64_t c, int64_t at, double& a, double& b) {
        const double d = static_cast<double>(load(x, at)) - load(x, l.at(c, 0));
        a += d;
        b += d * d;
      },
      partials);
}

template <class S>
__global__ void train_statistics_kernel(const S* x, ChannelLayout l, const double* partials, double eps,
                                        double momentum, float* saved_mean, float* saved_inv_std, float* running_mean,
                                        float* running_var) {
  const int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c >= l.channels) return;
  double s1, s2;
  channel_totals(l, partials, c, s1, s2);
  const double count = static_cast<double>(l.count());
  const double shift = load(x, l.at(c, 0));
  const double offset = s1 / count;  // mean - shift
  const float mean = static_cast<float>(shift + offset);
  const float variance = static_cast<float>(fmax(s2 / count - offset * offset, 0.0));
  const float inv_std = kernels::batchnorm_inv_std(variance, eps);
  saved_mean[c] = mean;
  saved_inv_std[c] = inv_std;
  running_mean[c] = kernels::running_average(running_mean[c], mean, momentum);
  running_var[c] = kernels::running_average(running_var[c], variance, momentum);
}

// y = bn(x), or relu(bn(x)) with relu set: the fused pass writes the tensor once. Element-wise
// with per-channel parameters, so it runs through launch_map's 16-byte vector accesses.
struct Apply {
  ChannelLayout l;
  const float *mean, *inv_std, *gamma, *beta;
  bool relu;
  __device__ float operator()(int64_t i, const float (&x)[1]) const {
    const int64_t c = l.channel_of(i);
    const float z = kernels::batchnorm_apply(x[0], mean[c], inv_std[c], gamma[c], beta[c]);
    return relu ? kernels::relu(z) : z;
  }
};

void apply(const Tensor& x, const ChannelLayout& l, const float* mean, const float* inv_std, const Tensor& gamma,
           const Tensor& beta, bool relu, Tensor& y, cudaStream_t stream) {
  dispatch_storage(x, "batchnorm", [&](auto tag) {
    using S = decltype(tag);
    launch_map<S, 1>({x.data<S>()}, y.data<S>(), x.numel(), stream,
                     Apply{l, mean, inv_std, gamma.data<float>(), beta.data<float>(), relu});
  });
}

// 1 / sqrt(var + eps) of each channel, once (not once per element).
__global__ void eval_inv_std_kernel(const float* running_var, double eps, int64_t channels, float* inv_std) {
  const int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c < channels) inv_std[c] = kernels::batchnorm_inv_std(running_var[c], eps);
}

// The gradient reaching the normalisation: grad_y, or through the fused ReLU's gate.
template <class S>
__device__ __forceinline__ float gated(const S* y, const S* grad_y, int64_t at) {
  return y ? kernels::relu_grad(load(y, at), load(grad_y, at)) : load(grad_y, at);
}

// Sums of grad_y and of grad_y xhat, xhat in float as the CPU forms it.
template <class S>
__global__ void backward_sums_kernel(const S* x, const S* y, const S* grad_y, ChannelLayout l, const float* mean,
                                     const float* inv_std, double* partials) {
  channel_partial_sums(
      l,
      [&](int64_t c, int64_t at, double& a, double& b) {
        const float g = gated(y, grad_y, at);
        a += g;
        b += g * ((load(x, at) - mean[c]) * inv_std[c]);
      },
      partials);
}

__global__ void backward_totals_kernel(ChannelLayout l, const double* partials, float* grad_gamma, float* grad_beta) {
  const int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c >= l.channels) return;
  double sum_gy, sum_gy_xhat;
  channel_totals(l, partials, c, sum_gy, sum_gy_xhat);
  grad_gamma[c] = static_cast<float>(sum_gy_xhat);
  grad_beta[c] = static_cast<float>(sum_gy);
}

// The input gradient, element-wise with per-channel statistics: inputs x and grad_y, or
// with the fused ReLU x, y and grad_y.
template <bool kGated>
struct InputGradient {
  ChannelLayout l;
  const float *mean, *inv_std, *gamma, *grad_gamma, *grad_beta;
  float inv_count;
  __device__ float operator()(int64_t i, const float (&v)[kGated ? 3 : 2]) const {
    const int64_t c = l.channel_of(i);
    const float g = kGated ? kernels::relu_grad(v[1], v[kGated ? 2 : 1]) : v[1];
    return kernels::batchnorm_grad_input(v[0], g, mean[c], inv_std[c], gamma[c], grad_gamma[c], grad_beta[c],
                                         inv_count);
  }
};

__global__ void fold_weight_kernel(const float* weight, const float* gamma, const float* running_var, double eps,
                                   int64_t per_channel, float* folded, int64_t n) {
  CONVLAB_FOR_EACH(i, n) {
    const int64_t k = i / per_channel;
    folded[i] = weight[i] * kernels::batchnorm_fold_scale(gamma[k], running_var[k], eps);
  }
}

__global__ void fold_bias_kernel(const float* bias, const float* gamma, const float* beta, const float* running_mean,
                                 const float* running_var, double eps, int64_t channels, float* folded_bias) {
  const int64_t k = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (k >= channels) return;
  const float scale = kernels::batchnorm_fold_scale(gamma[k], running_var[k], eps);
  folded_bias[k] = kernels::batchnorm_fold_bias(bias ? bias[k] : 0.0f, running_mean[k], scale, beta[k]);
}

void check_channels(const ChannelLayout& l, std::initializer_list<const Tensor*> per_channel, const char* op) {
  check_f32(per_channel, op);
  for (const Tensor* t : per_channel)
    CONVLAB_CHECK(t->numel() == l.channels, "{}: {} does not match {} channels", op, t->describe(), l.channels);
}

}  // namespace

void batchnorm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps, double momentum,
                             bool relu, Tensor& y, Tensor& saved_mean, Tensor& saved_inv_std, Tensor& running_mean,
                             Tensor& running_var) {
  const char* op = "batchnorm_forward_train";
  check_storage({&x, &y}, op);
  check_same_shape(x, y, op);
  const ChannelLayout l = channel_layout(x, op);
  check_channels(l, {&gamma, &beta, &saved_mean, &saved_inv_std, &running_mean, &running_var}, op);
  const cudaStream_t stream = stream_of(x);
  Tensor partials = channel_partials(l, x.device());  // (C, slices, 2)
  dispatch_storage(x, op, [&](auto tag) {
    using S = decltype(tag);
    moments_kernel<<<channel_grid(l), kThreads, 0, stream>>>(x.data<S>(), l, partials.data<double>());
    CUDA_CHECK_LAUNCH();
    train_statistics_kernel<<<channel_blocks(l), kThreads, 0, stream>>>(
        x.data<S>(), l, partials.data<double>(), eps, momentum, saved_mean.data<float>(),
        saved_inv_std.data<float>(), running_mean.data<float>(), running_var.data<float>());
    CUDA_CHECK_LAUNCH();
  });
  apply(x, l, saved_mean.data<float>(), saved_inv_std.data<float>(), gamma, beta, relu, y, stream);
}

void batchnorm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                            const Tensor& running_var, double eps, bool relu, Tensor& y) {
  const char* op = "batchnorm_forward_eval";
  check_storage({&x, &y}, op);
  check_same_shape(x, y, op);
  const ChannelLayout l = channel_layout(x, op);
  check_channels(l, {&gamma, &beta, &running_mean, &running_var}, op);
  const cudaStream_t stream = stream_of(x);
  Tensor inv_std = Tensor::empty({l.channels}, DType::f32, x.device());  // (C)
  eval_inv_std_kernel<<<channel_blocks(l), kThreads, 0, stream>>>(running_var.data<float>(), eps, l.channels,
                                                                  inv_std.data<float>());
  CUDA_CHECK_LAUNCH();
  apply(x, l, running_mean.data<float>(), inv_std.data<float>(), gamma, beta, relu, y, stream);
}

void batchnorm_backward(const Tensor& x, const Tensor* y, const Tensor& gamma, const Tensor& saved_mean,
                        const Tensor& saved_inv_std, const Tensor& grad_y, Tensor& grad_x, Tensor& grad_gamma,
                        Tensor& grad_beta) {
  const char* op = "batchnorm_backward";
  check_storage({&x, &grad_y, &grad_x}, op);
  check_same_shape(x, grad_y, op);
  check_same_shape(x, grad_x, op);
  if (y) check_same_shape(x, *y, op);
  const ChannelLayout l = channel_layout(x, op);
  check_channels(l, {&gamma, &saved_mean, &saved_inv_std, &grad_gamma, &grad_beta}, op);
  const cudaStream_t stream = stream_of(x);
  Tensor partials = channel_partials(l, x.device());  // (C, slices, 2)
  const float inv_count = 1.0f / static_cast<float>(l.count());  // as the CPU forms it
  const int64_t n = x.numel();
  dispatch_storage(x, op, [&](auto tag) {
    using S = decltype(tag);
    const S* py = y ? y->data<S>() : nullptr;
    backward_sums_kernel<<<channel_grid(l), kThreads, 0, stream>>>(x.data<S>(), py, grad_y.data<S>(), l,
                                                                   saved_mean.data<float>(),
                                                                   saved_inv_std.data<float>(), partials.data<double>());
    CUDA_CHECK_LAUNCH();
    backward_totals_kernel<<<channel_blocks(l), kThreads, 0, stream>>>(l, partials.data<double>(),
                                                                       grad_gamma.data<float>(),
                                                                       grad_beta.data<float>());
    CUDA_CHECK_LAUNCH();
    const float *mean = saved_mean.data<float>(), *inv = saved_inv_std.data<float>(), *g = gamma.data<float>();
    const float *gg = grad_gamma.data<float>(), *gb = grad_beta.data<float>();
    if (py) {
      launch_map<S, 3>({x.data<S>(), py, grad_y.data<S>()}, grad_x.data<S>(), n, stream,
                       InputGradient<true>{l, mean, inv, g, gg, gb, inv_count});
    } else {
      launch_map<S, 2>({x.data<S>(), grad_y.data<S>()}, grad_x.data<S>(), n, stream,
                       InputGradient<false>{l, mean, inv, g, gg, gb, inv_count});
    }
  });
}

void fold_batchnorm(const Tensor& weight, const Tensor* bias, const Tensor& gamma, const Tensor& beta,
                    const Tensor& running_mean, const Tensor& running_var, double eps, Tensor& folded_weight,
                    Tensor& folded_bias) {
  const char* op = "fold_batchnorm";
  check_f32({&weight, &folded_weight}, op);
  CONVLAB_CHECK(weight.rank() == 4 && !weight.channels_last(), "{}: weight {} must be a contiguous (K, C, R, S)", op,
                weight.describe());
  check_same_shape(weight, folded_weight, op);
  const int64_t channels = weight.dim(0);
  for (const Tensor* t : std::initializer_list<const Tensor*>{&gamma, &beta, &running_mean, &running_var, &folded_bias}) {
    check_f32({t}, op);
    CONVLAB_CHECK(t->numel() == channels, "{}: {} for {} channels", op, t->describe(), channels);
  }
  if (bias) check_f32({bias}, op);
  const cudaStream_t stream = stream_of(weight);
  const int64_t n = weight.numel();
  fold_weight_kernel<<<blocks_for(n), kThreads, 0, stream>>>(weight.data<float>(), gamma.data<float>(),
                                                             running_var.data<float>(), eps, n / channels,
                                                             folded_weight.data<float>(), n);
  CUDA_CHECK_LAUNCH();
  fold_bias_kernel<<<static_cast<int>((channels + kThreads - 1) / kThreads), kThreads, 0, stream>>>(
      bias ? bias->data<float>() : nullptr, gamma.data<float>(), beta.data<float>(), running_mean.data<float>(),
      running_var.data<float>(), eps, channels, folded_bias.data<float>());
  CUDA_CHECK_LAUNCH();
}

}  // namespace convlab::backend_cuda
