// CUDA batch normalisation over (N, H, W) per channel, with the per-element math of
// kernels/batchnorm.h, optionally fused with the ReLU that follows it. Activations are f32
// or bf16 (read into float, rounded once when stored), in either memory format; the
// per-channel parameters and statistics are f32. Statistics: one pass of double sums of
// (x - shift) and (x - shift)^2, shift = the channel's first element (so a large mean does
// not cancel the variance away), then per channel mean = shift + S1 / m,
// var = S2 / m - (S1 / m)^2: the CPU's two-pass result to within double rounding.
// Deterministic (channel_reduce.cuh). The element-wise passes (normalising, the input
// gradient) run the CPU's per-element formulas on the same per-channel values, so given the
// same statistics their outputs equal the CPU's bit for bit.
#include "framework/backend/cuda/channel_reduce.cuh"
#include "framework/backend/cuda/cuda_ops.h"
#include "framework/backend/cuda/storage.cuh"
#include "kernels/activation.h"
#include "kernels/batchnorm.h"

namespace convlab::backend_cuda {
namespace {

template <class S>
__global__ void __launch_bounds__(kThreads) moments_kernel(const S* x, ChannelLayout l, double* partials) {
  channel_partial_sums(
      l,
      [&](int64_t c) {
        const double shift = load(x, l.at(c, 0));
        return [=](int64_t at, double& a, double& b) {
          const double d = static_cast<double>(load(x, at)) - shift;
          a += d;
          b += d * d;
        };
      },
      partials);
}

template <class S>
__global__ void __launch_bounds__(kThreads)
    train_statistics_kernel(const S* x, ChannelLayout l, const double* partials, double eps, double momentum,
                            float* saved_mean, float* saved_inv_std, float* running_mean, float* running_var) {
  channel_totals(l, partials, [&](int64_t c, double s1, double s2) {
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
  });
}

// y = bn(x), or relu(bn(x)) with relu set: the fused pass writes the tensor once.
// Per-channel values: mean, inv_std, gamma, beta.
struct Apply {
  bool relu;
  __device__ float operator()(const float (&x)[1], const float (&p)[4]) const {
    const float z = kernels::batchnorm_apply(x[0], p[0], p[1], p[2], p[3]);
    return relu ? kernels::relu(z) : z;
  }
};

void apply(const Tensor& x, const ChannelLayout& l, const float* mean, const float* inv_std, const Tensor& gamma,
           const Tensor& beta, bool relu, Tensor& y, cudaStream_t stream) {
  dispatch_storage(x, "batchnorm", [&](auto tag) {
    using S = decltype(tag);
    launch_channel_map<S, S, 1, 4>(l, {x.data<S>()}, y.data<S>(),
                                   {mean, inv_std, gamma.data<float>(), beta.data<float>()}, stream, Apply{relu});
  });
}

// 1 / sqrt(var + eps) of each channel, once (not once per element).
__global__ void eval_inv_std_kernel(const float* running_var, double eps, int64_t channels, float* inv_std) {
  const int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c < channels) inv_std[c] = kernels::batchnorm_inv_std(running_var[c], eps);
}

// The gradient reaching the normalisation: grad_y, or through the fused ReLU's gate (a
// template flag, so that the first pass's unrolled loads carry no branch).
template <bool kGated, class S>
__device__ __forceinline__ float gated(const S* y, const S* grad_y, int64_t at) {
  if constexpr (kGated) return kernels::relu_grad(load(y, at), load(grad_y, at));
  else return load(grad_y, at);
}

// Sums of grad_y and of grad_y xhat, xhat in float as the CPU forms it.
template <bool kGated, class S>
__global__ void __launch_bounds__(kThreads)
    backward_sums_kernel(const S* x, const S* y, const S* grad_y, ChannelLayout l, const float* mean,
                         const float* inv_std, double* partials) {
  channel_partial_sums(
      l,
      [&](int64_t c) {
        const float m = mean[c], inv = inv_std[c];
        return [=](int64_t at, double& a, double& b) {
          const float g = gated<kGated>(y, grad_y, at);
          a += g;
          b += g * ((load(x, at) - m) * inv);
        };
      },
      partials);
}

__global__ void __launch_bounds__(kThreads)
    backward_totals_kernel(ChannelLayout l, const double* partials, float* grad_gamma, float* grad_beta) {
  channel_totals(l, partials, [&](int64_t c, double sum_gy, double sum_gy_xhat) {
    grad_gamma[c] = static_cast<float>(sum_gy_xhat);
    grad_beta[c] = static_cast<float>(sum_gy);
  });
}

// The input gradient: inputs x and grad_y, or with the fused ReLU x, y and grad_y.
// Per-channel values: mean, inv_std, gamma, grad_gamma, grad_beta.
template <bool kGated>
struct InputGradient {
  float inv_count;
  __device__ float operator()(const float (&v)[kGated ? 3 : 2], const float (&p)[5]) const {
    const float g = kGated ? kernels::relu_grad(v[1], v[kGated ? 2 : 1]) : v[1];
    return kernels::batchnorm_grad_input(v[0], g, p[0], p[1], p[2], p[3], p[4], inv_count);
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

void check_channels(int64_t channels, std::initializer_list<const Tensor*> per_channel, const char* op) {
  check_f32(per_channel, op);
  for (const Tensor* t : per_channel)
    CONVLAB_CHECK(t->numel() == channels, "{}: {} does not match {} channels", op, t->describe(), channels);
}

}  // namespace

void batchnorm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps, double momentum,
                             bool relu, Tensor& y, Tensor& saved_mean, Tensor& saved_inv_std, Tensor& running_mean,
                             Tensor& running_var) {
  const char* op = "batchnorm_forward_train";
  check_storage({&x, &y}, op);
  check_same_shape(x, y, op);
  const ChannelLayout l = channel_layout(x, op);  // the statistics of an empty batch are undefined: an error
  check_channels(l.channels, {&gamma, &beta, &saved_mean, &saved_inv_std, &running_mean, &running_var}, op);
  const cudaStream_t stream = stream_of(x);
  Tensor partials = channel_partials(l, x.device());  // (2, slices, C)
  dispatch_storage(x, op, [&](auto tag) {
    using S = decltype(tag);
    moments_kernel<<<channel_grid(l, op), kThreads, 0, stream>>>(x.data<S>(), l, partials.data<double>());
    CUDA_CHECK_LAUNCH();
    train_statistics_kernel<<<totals_blocks(l), kThreads, 0, stream>>>(
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
  CONVLAB_CHECK(x.rank() >= 2, "{}: input {} needs (N, C, ...)", op, x.describe());
  check_channels(x.dim(1), {&gamma, &beta, &running_mean, &running_var}, op);
  if (x.numel() == 0) return;  // nothing to normalise (the CPU does nothing either)
  const ChannelLayout l = channel_layout(x, op);
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
  if (y) {  // the fused ReLU's output: read like the other operands
    check_storage({y}, op);
    check_same_shape(x, *y, op);
  }
  const ChannelLayout l = channel_layout(x, op);
  check_channels(l.channels, {&gamma, &saved_mean, &saved_inv_std, &grad_gamma, &grad_beta}, op);
  const cudaStream_t stream = stream_of(x);
  Tensor partials = channel_partials(l, x.device());  // (2, slices, C)
  const float inv_count = 1.0f / static_cast<float>(l.count());  // as the CPU forms it
  dispatch_storage(x, op, [&](auto tag) {
    using S = decltype(tag);
    const S* py = y ? y->data<S>() : nullptr;
    const dim3 grid = channel_grid(l, op);
    if (py) {
      backward_sums_kernel<true><<<grid, kThreads, 0, stream>>>(x.data<S>(), py, grad_y.data<S>(), l,
                                                                saved_mean.data<float>(), saved_inv_std.data<float>(),
                                                                partials.data<double>());
    } else {
      backward_sums_kernel<false><<<grid, kThreads, 0, stream>>>(x.data<S>(), py, grad_y.data<S>(), l,
                                                                 saved_mean.data<float>(),
                                                                 saved_inv_std.data<float>(), partials.data<double>());
    }
    CUDA_CHECK_LAUNCH();
    backward_totals_kernel<<<totals_blocks(l), kThreads, 0, stream>>>(l, partials.data<double>(),
                                                                       grad_gamma.data<float>(),
                                                                       grad_beta.data<float>());
    CUDA_CHECK_LAUNCH();
    const std::array<const float*, 5> per_channel{saved_mean.data<float>(), saved_inv_std.data<float>(),
                                                  gamma.data<float>(), grad_gamma.data<float>(),
                                                  grad_beta.data<float>()};
    if (py) {
      launch_channel_map<S, S, 3, 5>(l, {x.data<S>(), py, grad_y.data<S>()}, grad_x.data<S>(), per_channel, stream,
                                     InputGradient<true>{inv_count});
    } else {
      launch_channel_map<S, S, 2, 5>(l, {x.data<S>(), grad_y.data<S>()}, grad_x.data<S>(), per_channel, stream,
                                     InputGradient<false>{inv_count});
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
  // The CPU's checks and messages, the bias included.
  for (const Tensor* t :
       std::initializer_list<const Tensor*>{&gamma, &beta, &running_mean, &running_var, &folded_bias, bias}) {
    if (!t) continue;
    check_f32({t}, op);
    CONVLAB_CHECK(t->numel() == channels, "{}: {} for {} output channels", op, t->describe(), channels);
  }
  CONVLAB_CHECK(channels > 0, "{}: weight {} has no output channels", op, weight.describe());
  const cudaStream_t stream = stream_of(weight);
  const int64_t n = weight.numel();
  if (n > 0) {  // (K, 0, R, S) and the like: no weights, but the biases still fold
    fold_weight_kernel<<<blocks_for(n), kThreads, 0, stream>>>(weight.data<float>(), gamma.data<float>(),
                                                               running_var.data<float>(), eps, n / channels,
                                                               folded_weight.data<float>(), n);
    CUDA_CHECK_LAUNCH();
  }
  fold_bias_kernel<<<static_cast<int>((channels + kThreads - 1) / kThreads), kThreads, 0, stream>>>(
      bias ? bias->data<float>() : nullptr, gamma.data<float>(), beta.data<float>(), running_mean.data<float>(),
      running_var.data<float>(), eps, channels, folded_bias.data<float>());
  CUDA_CHECK_LAUNCH();
}

}  // namespace convlab::backend_cuda
