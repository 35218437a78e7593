// The device kernels of the features -> Gram path (framework/cka/cuda: gram_block, range_scale,
// column_centring, device_gram; framework/rsa/cuda/row_centring) against host computations of
// the same math, on fresh random inputs, at tiny ragged shapes and at real ones. Skips when no
// GPU answers.
//
// Tolerances:
// - bit for bit: add_gram_block against a host loop (the same f64 sum of f32 values); max_abs
//   against a host maximum (a maximum is exact); the column statistics, shifts and centred
//   blocks against a host replay of their documented summation order (column_centring.h),
//   with kernels::column_shift and kernels::range_scale;
// - against the CPU twins (cka::centre_columns, rsa::centre_rows), whose f64 sums run in
//   another order: a shift may differ in its last bit (both round an f64 mean, whose last bits
//   differ, to f32), and the centred value then by at most that difference plus half an ulp of
//   each subtraction; where the shifts agree, the values agree bit for bit;
// - DeviceGram::compute (strict fp32) against cka::linear_gram of the CPU centring, on the
//   scale sqrt(G_ii G_jj): RMS 2e-6 and worst 1e-5. Both sum blocks of up to 2048 products in
//   f32, one accumulator per entry; for entries whose products mostly share a sign (the
//   diagonal, and every entry of row-centred features with large column means) that rounding
//   is about 6e-7 relative (one standard deviation, simulated) on each side, so the two differ
//   by about 8e-7 RMS, and the worst of 1e6 entries by several times that. A wrong block,
//   shift or scale gives errors of order 1.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "framework/backend/cuda_device.h"
#include "framework/cka/features.h"
#include "framework/cka/gram.h"
#include "framework/core/tensor.h"
#include "framework/rsa/row_centring.h"
#include "kernels/gram.h"

#if CONVLAB_WITH_CUDA
#include "framework/backend/cuda/cuda_context.h"
#include "tests/support/cuda_test.h"
#include "framework/cka/cuda/column_centring.h"
#include "framework/cka/cuda/device_features.h"
#include "framework/cka/cuda/device_gram.h"
#include "framework/cka/cuda/gram_block.h"
#include "framework/cka/cuda/range_scale.h"
#include "framework/rsa/cuda/row_centring.h"
#endif

#if CONVLAB_WITH_CUDA

using namespace convlab;

namespace {

struct Shape {
  int64_t rows, cols;
};

std::string shape_name(const Shape& s) { return std::to_string(s.rows) + " x " + std::to_string(s.cols); }

template <class T>
bool same_bits(T a, T b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

uint32_t bits_of(float v) {
  uint32_t b = 0;
  std::memcpy(&b, &v, sizeof(b));
  return b;
}

// Every element equal bit for bit; on failure, how many differ and the first one.
template <class T>
void expect_same_bits(const std::vector<T>& got, const std::vector<T>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (!same_bits(got[i], want[i])) {
      if (bad == 0) first = i;
      ++bad;
    }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << got.size() << " differ, first at " << first << ": "
                     << (bad ? static_cast<double>(got[first]) : 0.0) << " instead of "
                     << (bad ? static_cast<double>(want[first]) : 0.0);
}

float ulp(float v) {
  v = std::fabs(v);
  return std::nextafter(v, INFINITY) - v;
}

// Features (rows, cols) f32 row-major with large, varied column means (the centring must
// remove them), a few ReLU-like columns, a constant column (cols / 2) and a constant negative
// one (cols - 1) when there are enough columns.
std::vector<float> make_features(const Shape& s, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(s.rows * s.cols));
  for (int64_t i = 0; i < s.rows; ++i)
    for (int64_t c = 0; c < s.cols; ++c) {
      const float mean = static_cast<float>((c % 5) - 2) * 10.0f + 3.0f;
      const float spread = 0.1f + static_cast<float>(c % 3);
      float v = mean + spread * normal(rng);
      if (c % 4 == 3) v = std::max(v, 0.0f) + 3.0f;
      if (s.cols >= 2 && c == s.cols / 2) v = 2.5f;
      if (s.cols >= 3 && c == s.cols - 1) v = -7.25f;
      x[static_cast<size_t>(i * s.cols + c)] = v;
    }
  return x;
}

double host_max_abs(const std::vector<float>& x) {
  uint32_t largest = 0;
  for (float v : x) largest = std::max(largest, bits_of(std::fabs(v)));
  float f = 0.0f;
  std::memcpy(&f, &largest, sizeof(f));
  return static_cast<double>(f);
}

// The host replay of column_statistics and column_shifts (column_centring.h's order).
struct ColumnReplay {
  int64_t slices = 1;
  std::vector<double> sums;        // (slices, cols)
  std::vector<uint8_t> constant;   // (slices, cols)
  std::vector<float> shift;        // (cols)
};

ColumnReplay replay_columns(const std::vector<float>& x, const Shape& s) {
  ColumnReplay r;
  r.slices = cka_cuda::column_slices(s.rows, s.cols);
  const int64_t per_slice = (s.rows + r.slices - 1) / r.slices;
  const int groups = cka_cuda::kColumnStatisticsRowGroups;
  r.sums.assign(static_cast<size_t>(r.slices * s.cols), 0.0);
  r.constant.assign(static_cast<size_t>(r.slices * s.cols), 0);
  r.shift.assign(static_cast<size_t>(s.cols), 0.0f);
  for (int64_t c = 0; c < s.cols; ++c) {
    const float first_value = x[static_cast<size_t>(c)];
    double total = 0.0;
    bool all_equal = true;
    for (int64_t slice = 0; slice < r.slices; ++slice) {
      const int64_t begin = slice * per_slice, end = std::min(s.rows, begin + per_slice);
      double slice_sum = 0.0;
      bool slice_equal = true;
      for (int g = 0; g < groups; ++g) {
        double sum = 0.0;
        for (int64_t i = begin + g; i < end; i += groups) {
          const float v = x[static_cast<size_t>(i * s.cols + c)];
          sum += static_cast<double>(v);
          slice_equal = slice_equal && v == first_value;
        }
        slice_sum += sum;
      }
      r.sums[static_cast<size_t>(slice * s.cols + c)] = slice_sum;
      r.constant[static_cast<size_t>(slice * s.cols + c)] = slice_equal ? 1 : 0;
      total = slice == 0 ? slice_sum : total + slice_sum;
      all_equal = all_equal && slice_equal;
    }
    r.shift[static_cast<size_t>(c)] = kernels::column_shift(first_value, total, s.rows, all_equal);
  }
  return r;
}

// out (rows, width) = (x[:, first + c] - shift[first + c]) * scale, as the kernels compute it.
std::vector<float> host_column_block(const std::vector<float>& x, const Shape& s, int64_t first, int64_t width,
                                     const std::vector<float>& shift, double scale) {
  std::vector<float> out(static_cast<size_t>(s.rows * width));
  for (int64_t i = 0; i < s.rows; ++i)
    for (int64_t c = 0; c < width; ++c) {
      const float v = x[static_cast<size_t>(i * s.cols + first + c)] - shift[static_cast<size_t>(first + c)];
      out[static_cast<size_t>(i * width + c)] = static_cast<float>(static_cast<double>(v) * scale);
    }
  return out;
}

// Shifts within one ulp of the CPU twin's, and centred values (rows, cols) that agree bit for
// bit where the shifts do, else within the shift's difference plus an ulp (both scaled).
// shift_of(i, c) gives the index of the shift that centres element (i, c).
template <class ShiftIndex>
void expect_near_twin(const std::vector<float>& got, const std::vector<float>& twin, const std::vector<float>& got_shift,
                      const std::vector<float>& twin_shift, const Shape& s, double scale, ShiftIndex shift_of,
                      const std::string& what) {
  ASSERT_EQ(got.size(), twin.size()) << what;
  int64_t shifts_differ = 0;
  for (size_t j = 0; j < got_shift.size(); ++j)
    if (!same_bits(got_shift[j], twin_shift[j])) {
      ++shifts_differ;
      EXPECT_LE(std::fabs(got_shift[j] - twin_shift[j]), ulp(twin_shift[j])) << what << " shift " << j;
    }
  int64_t bad = 0;
  for (int64_t i = 0; i < s.rows; ++i)
    for (int64_t c = 0; c < s.cols; ++c) {
      const size_t e = static_cast<size_t>(i * s.cols + c), j = static_cast<size_t>(shift_of(i, c));
      if (same_bits(got_shift[j], twin_shift[j])) {
        bad += same_bits(got[e], twin[e]) ? 0 : 1;
      } else {
        const double a = got[e] / scale, b = twin[e] / scale;
        const double bound = std::fabs(got_shift[j] - twin_shift[j]) + ulp(static_cast<float>(std::max(std::fabs(a), std::fabs(b))));
        bad += std::fabs(a - b) <= bound ? 0 : 1;
      }
    }
  EXPECT_EQ(bad, 0) << what << ": centred values off the CPU twin's";
  std::printf("%s: %lld of %zu shifts differ from the CPU twin's in the last bit\n", what.c_str(),
              static_cast<long long>(shifts_differ), got_shift.size());
}

class GramKernels : public test_support::CudaTest {
 protected:

  template <class T>
  Tensor upload(const std::vector<T>& v) {
    return Tensor::from_vector<T>({static_cast<int64_t>(v.size())}, v).to(gpu());
  }
  Tensor upload_features(const std::vector<float>& x, const Shape& s) {
    return Tensor::from_vector<float>({s.rows, s.cols}, x).to(gpu());
  }
  template <class T>
  Tensor device_buffer(int64_t count) {
    return Tensor::empty({std::max<int64_t>(count, 1)}, dtype_of<T>(), gpu());
  }
  // The whole buffer, after the queued work (the copy waits for the stream).
  template <class T>
  std::vector<T> download(const Tensor& t, int64_t count) {
    std::vector<T> all = t.to(cpu()).to_vector<T>();
    all.resize(static_cast<size_t>(count));
    return all;
  }
  Tensor zero_flag() { return upload(std::vector<int32_t>{0}); }
  static uint32_t* as_bits(Tensor& t) { return reinterpret_cast<uint32_t*>(t.data<int32_t>()); }
  int32_t read_flag(const Tensor& t) { return download<int32_t>(t, 1)[0]; }
  uint32_t read_bits(const Tensor& t) { return static_cast<uint32_t>(download<int32_t>(t, 1)[0]); }
};

// --- add_gram_block -----------------------------------------------------------------------

TEST_F(GramKernels, AddGramBlockMatchesTheHostLoopBitForBit) {
  for (const int64_t n : {int64_t{1}, int64_t{2}, int64_t{31}, int64_t{32}, int64_t{33}, int64_t{64}, int64_t{65},
                          int64_t{100}, int64_t{4097}}) {
    const std::string what = "n = " + std::to_string(n);
    std::mt19937_64 rng(static_cast<uint64_t>(n) * 7 + 1);
    std::normal_distribution<float> normal(0.0f, 1000.0f);
    // Two partials (n, n) column-major, both triangles filled: only the upper one may be read.
    std::vector<float> p1(static_cast<size_t>(n * n)), p2(static_cast<size_t>(n * n));
    for (float& v : p1) v = normal(rng);
    for (float& v : p2) v = normal(rng);
    Tensor d1 = upload(p1), d2 = upload(p2);
    // The Gram starts as NaN: the first block must overwrite every entry.
    Tensor gram = upload(std::vector<double>(static_cast<size_t>(n * n), NAN));
    std::vector<double> want(static_cast<size_t>(n * n));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        const int64_t lo = std::min(i, j), hi = std::max(i, j);
        want[static_cast<size_t>(i * n + j)] = static_cast<double>(p1[static_cast<size_t>(lo + hi * n)]);
      }
    cka_cuda::add_gram_block(d1.data<float>(), n, /*first_block=*/true, gram.data<double>(), stream());
    expect_same_bits(download<double>(gram, n * n), want, what + ", first block");
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        const int64_t lo = std::min(i, j), hi = std::max(i, j);
        want[static_cast<size_t>(i * n + j)] += static_cast<double>(p2[static_cast<size_t>(lo + hi * n)]);
      }
    cka_cuda::add_gram_block(d2.data<float>(), n, /*first_block=*/false, gram.data<double>(), stream());
    const std::vector<double> got = download<double>(gram, n * n);
    expect_same_bits(got, want, what + ", second block");
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < i; ++j)
        if (!same_bits(got[static_cast<size_t>(i * n + j)], got[static_cast<size_t>(j * n + i)])) {
          ADD_FAILURE() << what << ": not symmetric at (" << i << ", " << j << ")";
          return;
        }
  }
}

// --- max_abs ------------------------------------------------------------------------------

TEST_F(GramKernels, MaxAbsMatchesTheHostMaximum) {
  Tensor scratch = device_buffer<int32_t>(1);
  for (const int64_t count : {int64_t{1}, int64_t{2}, int64_t{31}, int64_t{33}, int64_t{65}, int64_t{1000 * 2048},
                              int64_t{1000 * 24576}}) {
    const std::string what = "count = " + std::to_string(count);
    std::mt19937_64 rng(static_cast<uint64_t>(count) + 3);
    std::normal_distribution<float> normal(0.0f, 3.0f);
    std::vector<float> x(static_cast<size_t>(count));
    for (float& v : x) v = normal(rng);
    for (const size_t at : {size_t{0}, x.size() - 1, x.size() / 2}) {
      std::vector<float> y = x;
      y[at] = -1e30f;  // the largest magnitude, negative, at the start, end or middle
      Tensor d = upload(y);
      const float got = cka_cuda::largest_magnitude(d.data<float>(), count, as_bits(scratch), stream());
      EXPECT_EQ(bits_of(got), bits_of(static_cast<float>(host_max_abs(y)))) << what << ", largest at " << at;
      EXPECT_EQ(got, 1e30f) << what;
    }
    Tensor d = upload(x);
    EXPECT_EQ(bits_of(cka_cuda::largest_magnitude(d.data<float>(), count, as_bits(scratch), stream())),
              bits_of(static_cast<float>(host_max_abs(x))))
        << what;
    // max_abs keeps a larger value already there.
    Tensor held = upload(std::vector<int32_t>{static_cast<int32_t>(bits_of(1e20f))});
    cka_cuda::max_abs(d.data<float>(), count, as_bits(held), stream());
    EXPECT_EQ(read_bits(held), bits_of(1e20f)) << what;
    // Infinity beats every number; NaN beats infinity.
    std::vector<float> y = x;
    y[y.size() - 1] = -INFINITY;
    Tensor with_inf = upload(y);
    EXPECT_EQ(cka_cuda::largest_magnitude(with_inf.data<float>(), count, as_bits(scratch), stream()), INFINITY) << what;
    y[y.size() / 2] = NAN;
    Tensor with_nan = upload(y);
    EXPECT_TRUE(std::isnan(cka_cuda::largest_magnitude(with_nan.data<float>(), count, as_bits(scratch), stream())))
        << what;
  }
}

// --- column centring ----------------------------------------------------------------------

const std::vector<Shape> kColumnShapes = {{1, 1},  {2, 2},    {1, 33},   {31, 33},     {33, 31},
                                          {65, 65}, {197, 2}, {5000, 40}, {1000, 2048}, {1000, 24576}};

TEST_F(GramKernels, ColumnCentringMatchesTheHostBitForBit) {
  for (const Shape& s : kColumnShapes) {
    const std::string what = shape_name(s);
    const std::vector<float> x = make_features(s, static_cast<uint64_t>(s.rows * 131 + s.cols));
    const ColumnReplay r = replay_columns(x, s);
    const double max_abs = host_max_abs(x);
    const double scale = kernels::range_scale(max_abs);
    Tensor dx = upload_features(x, s);
    Tensor sums = device_buffer<double>(r.slices * s.cols), constant = device_buffer<uint8_t>(r.slices * s.cols);
    Tensor shift = device_buffer<float>(s.cols), bits = upload(std::vector<int32_t>{0}), nonfinite = zero_flag();
    cka_cuda::column_statistics(dx.data<float>(), s.rows, s.cols, sums.data<double>(), constant.data<uint8_t>(),
                                as_bits(bits), stream());
    expect_same_bits(download<double>(sums, r.slices * s.cols), r.sums, what + " sums");
    expect_same_bits(download<uint8_t>(constant, r.slices * s.cols), r.constant, what + " constant flags");
    EXPECT_EQ(read_bits(bits), bits_of(static_cast<float>(max_abs))) << what << " largest magnitude";
    cka_cuda::column_shifts(dx.data<float>(), s.rows, s.cols, sums.data<double>(), constant.data<uint8_t>(),
                            shift.data<float>(), nonfinite.data<int32_t>(), stream());
    const std::vector<float> got_shift = download<float>(shift, s.cols);
    expect_same_bits(got_shift, r.shift, what + " shifts");
    EXPECT_EQ(read_flag(nonfinite), 0) << what;
    // Blocks of kGramBlock columns, as DeviceGram takes them, and the whole layer at once.
    std::vector<float> whole(static_cast<size_t>(s.rows * s.cols));
    for (int64_t first = 0; first < s.cols; first += cka::kGramBlock) {
      const int64_t width = std::min(cka::kGramBlock, s.cols - first);
      Tensor out = device_buffer<float>(s.rows * width);
      cka_cuda::centre_column_block(dx.data<float>(), s.rows, s.cols, first, width, shift.data<float>(),
                                    as_bits(bits), out.data<float>(), stream());
      const std::vector<float> got = download<float>(out, s.rows * width);
      expect_same_bits(got, host_column_block(x, s, first, width, r.shift, scale),
                       what + " block at " + std::to_string(first));
      for (int64_t i = 0; i < s.rows; ++i)
        std::copy(got.begin() + i * width, got.begin() + (i + 1) * width, whole.begin() + i * s.cols + first);
    }
    // DeviceGram::centre_columns: the same values in one call.
    cka::DeviceGram gram(cuda(), cka::GramPrecision::fp32);
    Tensor out = device_buffer<float>(s.rows * s.cols), flag = zero_flag();
    gram.centre_columns(cka::DeviceFeatureView(dx, "x"), out.data<float>(), flag.data<int32_t>());
    expect_same_bits(download<float>(out, s.rows * s.cols), whole, what + " DeviceGram::centre_columns");
    EXPECT_EQ(read_flag(flag), 0) << what;
    // Constant columns (every one when there is one row) centre to exactly zero.
    for (int64_t c = 0; c < s.cols; ++c) {
      bool constant_column = true;
      for (int64_t i = 0; i < s.rows; ++i) constant_column = constant_column && x[i * s.cols + c] == x[c];
      if (!constant_column) continue;
      for (int64_t i = 0; i < s.rows; ++i)
        ASSERT_TRUE(same_bits(whole[static_cast<size_t>(i * s.cols + c)], 0.0f)) << what << " constant column " << c;
    }
    // The CPU twin: the same scale, shifts within an ulp (its f64 sums run row by row).
    cka::CentredFeatures twin = cka::centre_columns(cka::FeatureView(x, s.rows, s.cols, "x"));
    EXPECT_EQ(twin.scale, scale) << what;
    std::vector<float> twin_shift(static_cast<size_t>(s.cols));
    for (int64_t c = 0; c < s.cols; ++c) {
      double sum = 0.0;
      bool constant_column = true;
      for (int64_t i = 0; i < s.rows; ++i) {
        sum += static_cast<double>(x[static_cast<size_t>(i * s.cols + c)]);
        constant_column = constant_column && x[static_cast<size_t>(i * s.cols + c)] == x[static_cast<size_t>(c)];
      }
      twin_shift[static_cast<size_t>(c)] = kernels::column_shift(x[static_cast<size_t>(c)], sum, s.rows, constant_column);
    }
    expect_near_twin(whole, twin.f32, got_shift, twin_shift, s, scale, [](int64_t, int64_t c) { return c; },
                     what + " vs cka::centre_columns");
  }
}

// --- row centring -------------------------------------------------------------------------

const std::vector<Shape> kRowShapes = {{1, 1},   {2, 2},      {31, 33},    {65, 65},
                                       {2053, 3}, {100, 98304}, {1000, 2048}, {2053, 300}};

TEST_F(GramKernels, RowCentringMatchesTheHost) {
  for (const Shape& s : kRowShapes) {
    const std::string what = shape_name(s) + " by rows";
    std::vector<float> x = make_features(s, static_cast<uint64_t>(s.rows * 17 + s.cols));
    for (int64_t c = 0; c < s.cols; ++c) x[static_cast<size_t>((s.rows / 2) * s.cols + c)] = -3.75f;  // a constant row
    const double max_abs = host_max_abs(x);
    const double scale = kernels::range_scale(max_abs);
    Tensor dx = upload_features(x, s);
    Tensor shift = device_buffer<float>(s.rows), bits = upload(std::vector<int32_t>{0}), nonfinite = zero_flag();
    rsa_cuda::row_shifts(dx.data<float>(), s.rows, s.cols, shift.data<float>(), as_bits(bits),
                         nonfinite.data<int32_t>(), stream());
    const std::vector<float> got_shift = download<float>(shift, s.rows);
    EXPECT_EQ(read_bits(bits), bits_of(static_cast<float>(max_abs))) << what << " largest magnitude";
    EXPECT_EQ(read_flag(nonfinite), 0) << what;
    EXPECT_EQ(got_shift[static_cast<size_t>(s.rows / 2)], -3.75f) << what << " constant row";
    // Blocks against the host with the device's shifts: bit for bit.
    std::vector<float> whole(static_cast<size_t>(s.rows * s.cols));
    for (int64_t first = 0; first < s.cols; first += cka::kGramBlock) {
      const int64_t width = std::min(cka::kGramBlock, s.cols - first);
      Tensor out = device_buffer<float>(s.rows * width);
      rsa_cuda::centre_row_block(dx.data<float>(), s.rows, s.cols, first, width, shift.data<float>(), as_bits(bits),
                                 out.data<float>(), stream());
      const std::vector<float> got = download<float>(out, s.rows * width);
      std::vector<float> want(static_cast<size_t>(s.rows * width));
      for (int64_t i = 0; i < s.rows; ++i)
        for (int64_t c = 0; c < width; ++c) {
          const float v = x[static_cast<size_t>(i * s.cols + first + c)] - got_shift[static_cast<size_t>(i)];
          want[static_cast<size_t>(i * width + c)] = static_cast<float>(static_cast<double>(v) * scale);
        }
      expect_same_bits(got, want, what + " block at " + std::to_string(first));
      for (int64_t i = 0; i < s.rows; ++i)
        std::copy(got.begin() + i * width, got.begin() + (i + 1) * width, whole.begin() + i * s.cols + first);
    }
    for (int64_t c = 0; c < s.cols; ++c)
      ASSERT_TRUE(same_bits(whole[static_cast<size_t>((s.rows / 2) * s.cols + c)], 0.0f)) << what << " constant row";
    // The CPU twin (its sums run along the row; the device's in a block-wide tree).
    cka::CentredFeatures twin;
    rsa::centre_rows(cka::FeatureView(x, s.rows, s.cols, "x"), twin);
    EXPECT_EQ(twin.scale, scale) << what;
    std::vector<float> twin_shift(static_cast<size_t>(s.rows));
    for (int64_t i = 0; i < s.rows; ++i) {
      const float* row = x.data() + i * s.cols;
      double sum = 0.0;
      bool constant_row = true;
      for (int64_t c = 0; c < s.cols; ++c) {
        sum += static_cast<double>(row[c]);
        constant_row = constant_row && row[c] == row[0];
      }
      twin_shift[static_cast<size_t>(i)] = kernels::column_shift(row[0], sum, s.cols, constant_row);
    }
    expect_near_twin(whole, twin.f32, got_shift, twin_shift, s, scale, [](int64_t i, int64_t) { return i; },
                     what + " vs rsa::centre_rows");
  }
}

// --- non-finite features ------------------------------------------------------------------

TEST_F(GramKernels, NonFiniteFeaturesAreFlagged) {
  const Shape s{40, 3000};
  const std::vector<float> clean = make_features(s, 77);
  struct Case {
    std::string name;
    std::vector<std::pair<int64_t, float>> values;  // (element, value)
    bool nan_largest;
  };
  const std::vector<Case> cases = {
      {"finite", {}, false},
      {"NaN in the last column", {{5 * 3000 + 2999, NAN}}, true},
      {"infinity in the first row", {{7, INFINITY}}, false},
      {"-inf and +inf in one column", {{3 * 3000 + 11, -INFINITY}, {30 * 3000 + 11, INFINITY}}, false},
      {"NaN and infinity", {{0, NAN}, {39 * 3000 + 1500, -INFINITY}}, true},
  };
  for (const Case& t : cases) {
    std::vector<float> x = clean;
    for (const auto& [at, v] : t.values) x[static_cast<size_t>(at)] = v;
    const bool finite = t.values.empty();
    Tensor dx = upload_features(x, s);
    const cka::DeviceFeatureView view(dx, "x");
    cka::DeviceGram gram(cuda(), cka::GramPrecision::fp32);
    Tensor g = device_buffer<double>(s.rows * s.rows);
    for (const cka::Centring centring : {cka::Centring::columns, cka::Centring::rows}) {
      Tensor flag = zero_flag();
      gram.compute(view, centring, g.data<double>(), flag.data<int32_t>());
      EXPECT_EQ(read_flag(flag), finite ? 0 : 1) << t.name << (centring == cka::Centring::rows ? " by rows" : "");
    }
    Tensor out = device_buffer<float>(s.rows * s.cols), flag = zero_flag();
    gram.centre_columns(view, out.data<float>(), flag.data<int32_t>());
    EXPECT_EQ(read_flag(flag), finite ? 0 : 1) << t.name << " centre_columns";
    // The largest magnitude, from the column statistics and from the row shifts.
    const int64_t slices = cka_cuda::column_slices(s.rows, s.cols);
    Tensor sums = device_buffer<double>(slices * s.cols), constant = device_buffer<uint8_t>(slices * s.cols);
    Tensor bits = upload(std::vector<int32_t>{0}), row_bits = upload(std::vector<int32_t>{0});
    Tensor shift = device_buffer<float>(s.rows), row_flag = zero_flag();
    cka_cuda::column_statistics(dx.data<float>(), s.rows, s.cols, sums.data<double>(), constant.data<uint8_t>(),
                                as_bits(bits), stream());
    rsa_cuda::row_shifts(dx.data<float>(), s.rows, s.cols, shift.data<float>(), as_bits(row_bits),
                         row_flag.data<int32_t>(), stream());
    EXPECT_EQ(read_flag(row_flag), finite ? 0 : 1) << t.name << " row_shifts";
    for (const Tensor* b : {&bits, &row_bits}) {
      const uint32_t got = read_bits(*b);
      float f = 0.0f;
      std::memcpy(&f, &got, sizeof(f));
      if (t.nan_largest)
        EXPECT_TRUE(std::isnan(f)) << t.name;
      else
        EXPECT_EQ(got, bits_of(static_cast<float>(host_max_abs(x)))) << t.name;
    }
  }
}

// --- DeviceGram ---------------------------------------------------------------------------

// got against ref (k, k) on the scale sqrt(ref_ii ref_jj): the worst and the RMS error.
void expect_gram_close(const std::vector<double>& got, const std::vector<double>& ref, int64_t k,
                       const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  double worst = 0.0, squares = 0.0;
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < k; ++j) {
      const double g = got[static_cast<size_t>(i * k + j)], r = ref[static_cast<size_t>(i * k + j)];
      const double scale = std::sqrt(ref[static_cast<size_t>(i * k + i)] * ref[static_cast<size_t>(j * k + j)]);
      ASSERT_TRUE(std::isfinite(g)) << what << " (" << i << ", " << j << ")";
      ASSERT_TRUE(same_bits(g, got[static_cast<size_t>(j * k + i)])) << what << " not symmetric at " << i << ", " << j;
      if (scale == 0.0) {
        EXPECT_EQ(g, 0.0) << what << " (" << i << ", " << j << ")";
        continue;
      }
      const double e = std::fabs(g - r) / scale;
      worst = std::max(worst, e);
      squares += e * e;
    }
  const double rms = std::sqrt(squares / static_cast<double>(k * k));
  EXPECT_LE(worst, 1e-5) << what;
  EXPECT_LE(rms, 2e-6) << what;
  std::printf("%s: worst %.3g, RMS %.3g relative to sqrt(G_ii G_jj)\n", what.c_str(), worst, rms);
}

TEST_F(GramKernels, DeviceGramMatchesTheCpuTwin) {
  const std::vector<std::pair<Shape, cka::Centring>> runs = {
      {{2, 3}, cka::Centring::columns},        {{33, 65}, cka::Centring::columns},
      {{65, 2049}, cka::Centring::columns},    {{1000, 2048}, cka::Centring::columns},
      {{1000, 24576}, cka::Centring::columns}, {{33, 65}, cka::Centring::rows},
      {{100, 98304}, cka::Centring::rows},     {{1000, 2048}, cka::Centring::rows}};
  for (const auto& [s, centring] : runs) {
    const bool by_rows = centring == cka::Centring::rows;
    const std::string what = shape_name(s) + (by_rows ? " by rows" : " by columns");
    const std::vector<float> x = make_features(s, static_cast<uint64_t>(s.rows * 5 + s.cols));
    Tensor dx = upload_features(x, s);
    cka::DeviceGram gram(cuda(), cka::GramPrecision::fp32);
    Tensor g = device_buffer<double>(s.rows * s.rows), flag = zero_flag();
    gram.compute(cka::DeviceFeatureView(dx, "x"), centring, g.data<double>(), flag.data<int32_t>());
    const std::vector<double> got = download<double>(g, s.rows * s.rows);
    EXPECT_EQ(read_flag(flag), 0) << what;
    cka::CentredFeatures centred;
    const cka::FeatureView view(x, s.rows, s.cols, "x");
    if (by_rows)
      rsa::centre_rows(view, centred);
    else
      cka::centre_columns(view, centred);
    std::vector<double> ref(static_cast<size_t>(s.rows * s.rows));
    cka::linear_gram(centred, ref.data());
    expect_gram_close(got, ref, s.rows, what);
    // The same bits on a second run (fixed-order sums; the buffers are reused).
    gram.compute(cka::DeviceFeatureView(dx, "x"), centring, g.data<double>(), flag.data<int32_t>());
    expect_same_bits(download<double>(g, s.rows * s.rows), got, what + ", second run");
  }
}

TEST_F(GramKernels, ConstantLayerGivesAnExactlyZeroGram) {
  for (const Shape& s : {Shape{33, 65}, Shape{5000, 40}, Shape{100, 2100}}) {
    std::vector<float> x(static_cast<size_t>(s.rows * s.cols));
    for (int64_t i = 0; i < s.rows; ++i)
      for (int64_t c = 0; c < s.cols; ++c) x[static_cast<size_t>(i * s.cols + c)] = 0.25f * static_cast<float>(c % 9) - 1.0f;
    Tensor dx = upload_features(x, s);
    cka::DeviceGram gram(cuda(), cka::GramPrecision::tf32);
    Tensor g = device_buffer<double>(s.rows * s.rows), flag = zero_flag();
    gram.compute(cka::DeviceFeatureView(dx, "x"), cka::Centring::columns, g.data<double>(), flag.data<int32_t>());
    const std::vector<double> got = download<double>(g, s.rows * s.rows);
    EXPECT_EQ(read_flag(flag), 0) << shape_name(s);
    EXPECT_EQ(std::count(got.begin(), got.end(), 0.0), static_cast<std::ptrdiff_t>(got.size())) << shape_name(s);
  }
}

}  // namespace

#else

TEST(GramKernels, NeedsTheCudaBuild) { GTEST_SKIP() << "convlab was built without CUDA"; }

#endif  // CONVLAB_WITH_CUDA
