// CPU convolution: im2col + BLAS GEMM per image; the GEMM is multithreaded by OpenBLAS.
#include <cblas.h>

#include <vector>

#include "framework/backend/cpu/cpu_common.h"
#include "framework/backend/cpu/cpu_ops.h"
#include "kernels/im2col.h"

namespace convlab::backend_cpu {
namespace {

// C (m, n) = alpha A B + beta C, row-major, with optional transposes.
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          const float* b, float beta, float* c) {
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              m, n, k, alpha, a, trans_a ? m : k, b, trans_b ? k : n, beta, c, n);
}
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
          const double* b, double beta, double* c) {
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              m, n, k, alpha, a, trans_a ? m : k, b, trans_b ? k : n, beta, c, n);
}

// A 1x1 convolution with stride 1 and no padding reads the image itself as its columns.
bool is_pointwise(const ConvGeometry& g) {
  return g.kernel_h == 1 && g.kernel_w == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_top == 0 &&
         g.pad_left == 0 && g.out_h == g.in_h && g.out_w == g.in_w;
}

// image (C, H, W) -> columns (C R S, OH OW)
template <class T>
void im2col(const T* image, const ConvGeometry& g, T* columns) {
  const int64_t plane = g.out_h * g.out_w;
  for (int64_t c = 0; c < g.in_channels; ++c)
    for (int64_t r = 0; r < g.kernel_h; ++r)
      for (int64_t s = 0; s < g.kernel_w; ++s) {
        T* row = columns + ((c * g.kernel_h + r) * g.kernel_w + s) * plane;
        for (int64_t oy = 0; oy < g.out_h; ++oy) {
          const int64_t iy = kernels::conv_source(oy, r, g.stride_h, g.pad_top, g.in_h);
          T* out = row + oy * g.out_w;
          if (iy < 0) {
            std::fill_n(out, g.out_w, T(0));
            continue;
          }
          const T* in = image + (c * g.in_h + iy) * g.in_w;
          for (int64_t ox = 0; ox < g.out_w; ++ox) {
            const int64_t ix = kernels::conv_source(ox, s, g.stride_w, g.pad_left, g.in_w);
            out[ox] = ix < 0 ? T(0) : in[ix];
          }
        }
      }
}

// columns (C R S, OH OW) -> image (C, H, W), adding the columns that read each pixel.
template <class T>
void col2im_add(const T* columns, const ConvGeometry& g, T* image) {
  const int64_t plane = g.out_h * g.out_w;
  for (int64_t c = 0; c < g.in_channels; ++c)
    for (int64_t r = 0; r < g.kernel_h; ++r)
      for (int64_t s = 0; s < g.kernel_w; ++s) {
        const T* row = columns + ((c * g.kernel_h + r) * g.kernel_w + s) * plane;
        for (int64_t oy = 0; oy < g.out_h; ++oy) {
          const int64_t iy = kernels::conv_source(oy, r, g.stride_h, g.pad_top, g.in_h);
          if (iy < 0) continue;
          T* out = image + (c * g.in_h + iy) * g.in_w;
          const T* in = row + oy * g.out_w;
          for (int64_t ox = 0; ox < g.out_w; ++ox) {
            const int64_t ix = kernels::conv_source(ox, s, g.stride_w, g.pad_left, g.in_w);
            if (ix >= 0) out[ix] += in[ox];
          }
        }
      }
}

void check_geometry(const Tensor& x, const Tensor& w, const Tensor& y, const ConvGeometry& g, const char* op) {
  CONVLAB_CHECK(x.shape() == Shape({g.batch, g.in_channels, g.in_h, g.in_w}) &&
                    w.shape() == Shape({g.out_channels, g.in_channels, g.kernel_h, g.kernel_w}) &&
                    y.shape() == Shape({g.batch, g.out_channels, g.out_h, g.out_w}),
                "{}: x {}, w {}, y {} do not fit {}", op, x.describe(), w.describe(), y.describe(), g.str());
}

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y, const ConvGeometry& g) {
  check_geometry(x, w, y, g, "conv2d_forward");
  dispatch_floating(x.dtype(), "conv2d_forward", [&]<class T>(T) {
    const int64_t taps = g.in_channels * g.kernel_h * g.kernel_w;
    const int64_t plane = g.out_h * g.out_w;
    const bool pointwise = is_pointwise(g);
    std::vector<T> columns(pointwise ? 0 : taps * plane);
    for (int64_t n = 0; n < g.batch; ++n) {
      const T* image = x.host<T>() + n * g.in_channels * g.in_h * g.in_w;
      if (!pointwise) im2col(image, g, columns.data());
      T* out = y.host<T>() + n * g.out_channels * plane;
      gemm(false, false, g.out_channels, plane, taps, T(1), w.host<T>(), pointwise ? image : columns.data(),
           T(0), out);
      if (bias)
        for (int64_t k = 0; k < g.out_channels; ++k)
          for (int64_t i = 0; i < plane; ++i) out[k * plane + i] += bias->host<T>()[k];
    }
  });
}

void conv2d_backward_data(const Tensor& w, const Tensor& grad_y, Tensor& grad_x, const ConvGeometry& g) {
  check_geometry(grad_x, w, grad_y, g, "conv2d_backward_data");
  dispatch_floating(w.dtype(), "conv2d_backward_data", [&]<class T>(T) {
    const int64_t taps = g.in_channels * g.kernel_h * g.kernel_w;
    const int64_t plane = g.out_h * g.out_w;
    const int64_t image_size = g.in_channels * g.in_h * g.in_w;
    const bool pointwise = is_pointwise(g);
    std::vector<T> columns(pointwise ? 0 : taps * plane);
    for (int64_t n = 0; n < g.batch; ++n) {
      const T* gy = grad_y.host<T>() + n * g.out_channels * plane;
      T* gx = grad_x.host<T>() + n * image_size;
      if (pointwise) {
        gemm(true, false, taps, plane, g.out_channels, T(1), w.host<T>(), gy, T(0), gx);
        continue;
      }
      gemm(true, false, taps, plane, g.out_channels, T(1), w.host<T>(), gy, T(0), columns.data());
      std::fill_n(gx, image_size, T(0));
      col2im_add(columns.data(), g, gx);
    }
  });
}

void conv2d_backward_filter(const Tensor& x, const Tensor& grad_y, Tensor& grad_w, const ConvGeometry& g) {
  check_geometry(x, grad_w, grad_y, g, "conv2d_backward_filter");
  dispatch_floating(x.dtype(), "conv2d_backward_filter", [&]<class T>(T) {
    const int64_t taps = g.in_channels * g.kernel_h * g.kernel_w;
    const int64_t plane = g.out_h * g.out_w;
    const bool pointwise = is_pointwise(g);
    std::vector<T> columns(pointwise ? 0 : taps * plane);
    for (int64_t n = 0; n < g.batch; ++n) {
      const T* image = x.host<T>() + n * g.in_channels * g.in_h * g.in_w;
      if (!pointwise) im2col(image, g, columns.data());
      const T* gy = grad_y.host<T>() + n * g.out_channels * plane;
      // grad_w (K, CRS) (+)= gy (K, OH OW) columns^T
      gemm(false, true, g.out_channels, taps, plane, T(1), gy, pointwise ? image : columns.data(),
           n == 0 ? T(0) : T(1), grad_w.host<T>());
    }
  });
}

void conv2d_backward_bias(const Tensor& grad_y, Tensor& grad_bias) {
  dispatch_floating(grad_y.dtype(), "conv2d_backward_bias", [&]<class T>(T) {
    const int64_t batch = grad_y.dim(0), channels = grad_y.dim(1), plane = grad_y.dim(2) * grad_y.dim(3);
    CONVLAB_CHECK(grad_bias.numel() == channels, "conv2d_backward_bias: {} for {}", grad_bias.describe(),
                  grad_y.describe());
    T* gb = grad_bias.host<T>();
    for (int64_t k = 0; k < channels; ++k) {
      double total = 0;
      for (int64_t n = 0; n < batch; ++n) {
        const T* row = grad_y.host<T>() + (n * channels + k) * plane;
        for (int64_t i = 0; i < plane; ++i) total += row[i];
      }
      gb[k] = static_cast<T>(total);
    }
  });
}

}  // namespace convlab::backend_cpu
