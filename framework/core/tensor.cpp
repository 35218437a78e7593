#include "framework/core/tensor.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <type_traits>

#include "framework/backend/backend.h"

namespace convlab {

size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::i32: return 4;
    case DType::u8: return 1;
    case DType::bf16: return 2;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::i32: return "i32";
    case DType::u8: return "u8";
    case DType::bf16: return "bf16";
  }
  return "?";
}

const char* format_name(MemoryFormat format) {
  return format == MemoryFormat::channels_last ? "channels_last" : "contiguous";
}

void Shape::validate() const {
  for (int64_t d : dims_) CONVLAB_CHECK(d >= 0, "negative dimension in shape {}", str());
}

int64_t Shape::numel() const {
  return std::accumulate(dims_.begin(), dims_.end(), int64_t{1}, std::multiplies<>());
}

std::string Shape::str() const {
  std::string s = "(";
  for (size_t i = 0; i < dims_.size(); ++i) s += (i ? ", " : "") + std::to_string(dims_[i]);
  return s + ")";
}

Tensor Tensor::empty(Shape shape, DType dtype, Device device, MemoryFormat format) {
  CONVLAB_CHECK(format == MemoryFormat::contiguous || shape.rank() == 4,
                "a channels_last tensor is 4-D (N, C, H, W), not {}", shape.str());
  Tensor t;
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  t.format_ = format;
  t.context_ = &device.context();
  t.data_ = t.context_->allocate(t.nbytes());
  return t;
}

Tensor Tensor::borrow(void* data, Shape shape, DType dtype, Device device) {
  CONVLAB_CHECK(data != nullptr || shape.numel() == 0, "borrow: no memory for a tensor of shape {}", shape.str());
  Tensor t;
  t.shape_ = std::move(shape);
  t.dtype_ = dtype;
  t.context_ = &device.context();
  t.data_ = data;
  t.borrowed_ = true;
  return t;
}

Tensor Tensor::empty_like(const Tensor& t) { return empty(t.shape_, t.dtype_, t.device(), t.format_); }

Tensor Tensor::zeros(Shape shape, DType dtype, Device device) {
  return full(std::move(shape), dtype, device, 0.0);
}

Tensor Tensor::full(Shape shape, DType dtype, Device device, double value) {
  Tensor t = empty(std::move(shape), dtype, device);
  backend(device).fill(t, value);
  return t;
}

Tensor::Tensor(Tensor&& other) noexcept
    : shape_(std::move(other.shape_)),
      dtype_(other.dtype_),
      format_(other.format_),
      context_(other.context_),
      data_(other.data_),
      borrowed_(other.borrowed_) {
  other.context_ = nullptr;
  other.borrowed_ = false;
  other.data_ = nullptr;
  other.shape_ = Shape();
}

Tensor& Tensor::operator=(Tensor&& other) noexcept {
  if (this != &other) {
    release();
    shape_ = std::move(other.shape_);
    dtype_ = other.dtype_;
    format_ = other.format_;
    context_ = other.context_;
    data_ = other.data_;
    borrowed_ = other.borrowed_;
    other.context_ = nullptr;
    other.borrowed_ = false;
    other.data_ = nullptr;
    other.shape_ = Shape();
  }
  return *this;
}

Tensor::~Tensor() { release(); }

void Tensor::release() {
  if (context_ && data_ && !borrowed_) context_->deallocate(data_, nbytes());
  data_ = nullptr;
  borrowed_ = false;
  context_ = nullptr;
}

Device Tensor::device() const {
  CONVLAB_CHECK(context_ != nullptr, "the tensor is empty (not allocated)");
  return Device(context_);
}

void Tensor::check_dtype(DType expected) const {
  CONVLAB_CHECK(dtype_ == expected, "tensor {} accessed as {}", describe(), dtype_name(expected));
}

void Tensor::check_host() const {
  CONVLAB_CHECK(context_ != nullptr && context_->kind() == DeviceKind::cpu,
                "tensor {} read on the host: copy it with .to(cpu()) first", describe());
}

double Tensor::item() const {
  CONVLAB_CHECK(numel() == 1, "item() of tensor {} with {} elements", describe(), numel());
  check_host();
  switch (dtype_) {
    case DType::f32: return *static_cast<const float*>(data_);
    case DType::f64: return *static_cast<const double*>(data_);
    case DType::i32: return *static_cast<const int32_t*>(data_);
    case DType::u8: return *static_cast<const uint8_t*>(data_);
    case DType::bf16: return kernels::to_float(*static_cast<const kernels::Bf16*>(data_));
  }
  CONVLAB_FAIL("item() does not support {}", dtype_name(dtype_));
}

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes) {
  if (bytes == 0) return;
  if (dst_device.is_cpu()) {
    src_device.context().copy_to_host(dst, src, bytes);
  } else if (src_device.is_cpu()) {
    dst_device.context().copy_from_host(dst, src, bytes);
  } else if (src_device == dst_device) {
    dst_device.context().copy_within(dst, src, bytes);  // stream order is enough
  } else {
    src_device.context().synchronize();
    dst_device.context().copy_within(dst, src, bytes);
  }
}

void Tensor::copy_from(const Tensor& src) {
  CONVLAB_CHECK(shape_ == src.shape_ && dtype_ == src.dtype_ && format_ == src.format_, "copy from {} into {}",
                src.describe(), describe());
  copy_bytes(data_, device(), src.data_, src.device(), nbytes());
}

Tensor Tensor::clone() const { return to(device()); }

Tensor Tensor::to(Device target) const {
  Tensor out = empty(shape_, dtype_, target, format_);
  out.copy_from(*this);
  return out;
}

namespace {

// Element conversion through double (exact for every source type); to bf16 through float,
// rounding to nearest even as the devices do.
template <class Dst>
Dst convert_value(double v) {
  if constexpr (std::is_same_v<Dst, kernels::Bf16>) return kernels::to_bf16(static_cast<float>(v));
  else return static_cast<Dst>(v);
}

template <class Src>
double value_of(Src v) {
  if constexpr (std::is_same_v<Src, kernels::Bf16>) return kernels::to_float(v);
  else return static_cast<double>(v);
}

template <class F>
void dispatch_any(DType dtype, F&& f) {
  switch (dtype) {
    case DType::f32: f(float{}); return;
    case DType::f64: f(double{}); return;
    case DType::i32: f(int32_t{}); return;
    case DType::u8: f(uint8_t{}); return;
    case DType::bf16: f(kernels::Bf16{}); return;
  }
  CONVLAB_FAIL("unknown dtype");
}

}  // namespace

Tensor Tensor::to(DType target) const {
  Tensor out = empty(shape_, target, device(), format_);
  const int64_t n = numel();
  dispatch_any(dtype_, [&]<class Src>(Src) {
    dispatch_any(target, [&]<class Dst>(Dst) {
      const Src* src = host<Src>();
      Dst* dst = out.host<Dst>();
      for (int64_t i = 0; i < n; ++i) dst[i] = convert_value<Dst>(value_of(src[i]));
    });
  });
  return out;
}

Tensor Tensor::reshaped(Shape shape) && {
  CONVLAB_CHECK(shape.numel() == numel(), "cannot reshape {} to {}", describe(), shape.str());
  CONVLAB_CHECK(!channels_last() || (shape.rank() == 2 && shape[0] == shape_[0]),
                "a channels_last tensor {} flattens only to (N, C H W), not {}: convert it first", describe(),
                shape.str());
  Tensor out = std::move(*this);
  out.shape_ = std::move(shape);
  out.format_ = MemoryFormat::contiguous;
  return out;
}

std::string Tensor::describe() const {
  if (!context_) return "(empty tensor)";
  return fmt::format("{} {}{} on {}", dtype_name(dtype_), shape_.str(), channels_last() ? " channels_last" : "",
                     context_->name());
}

}  // namespace convlab
