// CPU convolution: im2col + BLAS GEMM per image; the GEMM is multithreaded by OpenBLAS.
#include <cblas.h>

#include <algorithm>
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

// Images go through the GEMMs in groups whose columns sit side by side, (C R S, G OH OW), so
// the products stay wide for the late 8x8 and 6x6 layers.
int64_t group_size(const ConvGeometry& g) {
  const int64_t plane = g.out_h * g.out_w;
  return std::clamp<int64_t>((2048 + plane - 1) / plane, 1, g.batch);
}

// image (C, H, W) -> columns (C R S, OH OW), rows `ld` apart.
template <class T>
void im2col(const T* image, const ConvGeometry& g, T* columns, int64_t ld) {
  for (int64_t c = 0; c < g.in_channels; ++c)
    for (int64_t r = 0; r < g.kernel_h; ++r)
      for (int64_t s = 0; s < g.kernel_w; ++s) {
        T* row = columns + ((c * g.kernel_h + r) * g.kernel_w + s) * ld;
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

// columns (C R S, OH OW), rows `ld` apart -> image (C, H, W), adding the columns that read
// each pixel.
template <class T>
void col2im_add(const T* columns, const ConvGeometry& g, T* image, int64_t ld) {
  for (int64_t c = 0; c < g.in_channels; ++c)
    for (int64_t r = 0; r < g.kernel_h; ++r)
      for (int64_t s = 0; s < g.kernel_w; ++s) {
        const T* row = columns + ((c * g.kernel_h + r) * g.kernel_w + s) * ld;
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

// Images [first, first + count) of x -> columns (C R S, count OH OW).
template <class T>
void im2col_group(const T* x, const ConvGeometry& g, int64_t first, int64_t count, T* columns) {
  const int64_t plane = g.out_h * g.out_w, image_size = g.in_channels * g.in_h * g.in_w;
#pragma omp parallel for
  for (int64_t j = 0; j < count; ++j) im2col(x + (first + j) * image_size, g, columns + j * plane, count * plane);
}

// (N, K, OH OW) <-> (K, count OH OW) for images [first, first + count).
template <class T>
void gather_channels(const T* batched, const ConvGeometry& g, int64_t first, int64_t count, T* grouped) {
  const int64_t plane = g.out_h * g.out_w;
#pragma omp parallel for
  for (int64_t k = 0; k < g.out_channels; ++k)
    for (int64_t j = 0; j < count; ++j)
      std::copy_n(batched + ((first + j) * g.out_channels + k) * plane, plane, grouped + (k * count + j) * plane);
}
template <class T>
void scatter_channels(const T* grouped, const ConvGeometry& g, int64_t first, int64_t count, T* batched) {
  const int64_t plane = g.out_h * g.out_w;
#pragma omp parallel for
  for (int64_t k = 0; k < g.out_channels; ++k)
    for (int64_t j = 0; j < count; ++j)
      std::copy_n(grouped + (k * count + j) * plane, plane, batched + ((first + j) * g.out_channels + k) * plane);
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
    const int64_t taps = g.in_channels * g.kernel_h * g.kernel_w, plane = g.out_h * g.out_w;
    const int64_t group = group_size(g);
    std::vector<T> columns(taps * group * plane), products(g.out_channels * group * plane);
    for (int64_t first = 0; first < g.batch; first += group) {
      const int64_t count = std::min(group, g.batch - first);
      im2col_group(x.host<T>(), g, first, count, columns.data());
      // products (K, count OH OW) = w (K, C R S) columns
      gemm(false, false, g.out_channels, count * plane, taps, T(1), w.host<T>(), columns.data(), T(0),
           products.data());
      if (bias)
        for (int64_t k = 0; k < g.out_channels; ++k)
          for (int64_t i = 0; i < count * plane; ++i) products[k * count * plane + i] += bias->host<T>()[k];
      scatter_channels(products.data(), g, first, count, y.host<T>());
    }
  });
}

void conv2d_backward_data(const Tensor& w, const Tensor& grad_y, Tensor& grad_x, const ConvGeometry& g) {
  check_geometry(grad_x, w, grad_y, g, "conv2d_backward_data");
  dispatch_floating(w.dtype(), "conv2d_backward_data", [&]<class T>(T) {
    const int64_t taps = g.in_channels * g.kernel_h * g.kernel_w, plane = g.out_h * g.out_w;
    const int64_t image_size = g.in_channels * g.in_h * g.in_w;
    const int64_t group = group_size(g);
    std::vector<T> columns(taps * group * plane), grads(g.out_channels * group * plane);
    for (int64_t first = 0; first < g.batch; first += group) {
      const int64_t count = std::min(group, g.batch - first);
      gather_channels(grad_y.host<T>(), g, first, count, grads.data());
      // columns (C R S, count OH OW) = w^T grads
      gemm(true, false, taps, count * plane, g.out_channels, T(1), w.host<T>(), grads.data(), T(0), columns.data());
      T* gx = grad_x.host<T>();
#pragma omp parallel for
      for (int64_t j = 0; j < count; ++j) {
        T* image = gx + (first + j) * image_size;
        std::fill_n(image, image_size, T(0));
        col2im_add(columns.data() + j * plane, g, image, count * plane);
      }
    }
  });
}

void conv2d_backward_filter(const Tensor& x, const Tensor& grad_y, Tensor& grad_w, const ConvGeometry& g) {
  check_geometry(x, grad_w, grad_y, g, "conv2d_backward_filter");
  dispatch_floating(x.dtype(), "conv2d_backward_filter", [&]<class T>(T) {
    const int64_t taps = g.in_channels * g.kernel_h * g.kernel_w, plane = g.out_h * g.out_w;
    const int64_t group = group_size(g);
    std::vector<T> columns(taps * group * plane), grads(g.out_channels * group * plane);
    for (int64_t first = 0; first < g.batch; first += group) {
      const int64_t count = std::min(group, g.batch - first);
      im2col_group(x.host<T>(), g, first, count, columns.data());
      gather_channels(grad_y.host<T>(), g, first, count, grads.data());
      // grad_w (K, C R S) (+)= grads (K, count OH OW) columns^T
      gemm(false, true, g.out_channels, taps, count * plane, T(1), grads.data(), columns.data(),
           first == 0 ? T(0) : T(1), grad_w.host<T>());
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
