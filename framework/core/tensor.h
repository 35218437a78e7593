// Tensor: a shape, an element type, a device, and memory it owns. Move-only: copying data
// is always explicit (clone(), to(device)), so no host/device transfer happens by accident.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "framework/core/device.h"
#include "framework/core/error.h"
#include "kernels/bf16.h"

namespace convlab {

// bf16 tensors hold kernels::Bf16 values (rounding in kernels/bf16.h): a storage type whose
// arithmetic runs in float on both devices.
enum class DType { f32, f64, i32, u8, bf16 };

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<double>() { return DType::f64; }
template <> constexpr DType dtype_of<int32_t>() { return DType::i32; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::u8; }
template <> constexpr DType dtype_of<kernels::Bf16>() { return DType::bf16; }

// How a 4-D tensor's elements lie in memory. The shape is always the logical (N, C, H, W)
// (for weights (K, C, R, S)); `contiguous` stores it row-major (NCHW), `channels_last` as
// (N, H, W, C) (weights (K, R, S, C)): cuDNN's fast tensor-core layout. Ops state which
// formats they take; changing format is an explicit op (Backend::convert), never hidden.
enum class MemoryFormat { contiguous, channels_last };
const char* format_name(MemoryFormat format);

class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims) : dims_(dims) { validate(); }
  explicit Shape(std::vector<int64_t> dims) : dims_(std::move(dims)) { validate(); }

  int64_t rank() const { return static_cast<int64_t>(dims_.size()); }
  int64_t operator[](int64_t i) const { return dims_.at(static_cast<size_t>(i)); }
  int64_t numel() const;
  const std::vector<int64_t>& dims() const { return dims_; }
  bool operator==(const Shape& other) const { return dims_ == other.dims_; }
  std::string str() const;  // "(2, 3, 32, 32)"

 private:
  void validate() const;
  std::vector<int64_t> dims_;
};

class Tensor {
 public:
  Tensor() = default;  // an empty tensor: defined() is false
  static Tensor empty(Shape shape, DType dtype, Device device, MemoryFormat format = MemoryFormat::contiguous);
  // The shape, dtype, device and format of t, uninitialised.
  static Tensor empty_like(const Tensor& t);
  static Tensor zeros(Shape shape, DType dtype, Device device);
  static Tensor full(Shape shape, DType dtype, Device device, double value);
  // A CPU tensor holding `values`.
  template <class T>
  static Tensor from_vector(Shape shape, const std::vector<T>& values);
  // A tensor over memory that someone else owns (an array handed over from Python, on the
  // CPU or a GPU): nothing is copied, the memory is never freed here, and it must outlive the
  // tensor. Contiguous, row-major.
  static Tensor borrow(void* data, Shape shape, DType dtype, Device device);

  Tensor(Tensor&& other) noexcept;
  Tensor& operator=(Tensor&& other) noexcept;
  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;
  ~Tensor();

  bool defined() const { return context_ != nullptr; }
  // Made by borrow(): the memory is not the tensor's to change or free.
  bool borrowed() const { return borrowed_; }
  const Shape& shape() const { return shape_; }
  int64_t dim(int64_t i) const { return shape_[i]; }
  int64_t rank() const { return shape_.rank(); }
  int64_t numel() const { return shape_.numel(); }
  DType dtype() const { return dtype_; }
  MemoryFormat format() const { return format_; }
  bool channels_last() const { return format_ == MemoryFormat::channels_last; }
  Device device() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }

  void* raw() { return data_; }
  const void* raw() const { return data_; }
  // Typed pointer to the memory, on whatever device it lives (checks the element type).
  template <class T> T* data() { check_dtype(dtype_of<T>()); return static_cast<T*>(data_); }
  template <class T> const T* data() const { check_dtype(dtype_of<T>()); return static_cast<const T*>(data_); }
  // Host access: throws if the tensor is not on the CPU.
  template <class T> T* host() { check_host(); return data<T>(); }
  template <class T> const T* host() const { check_host(); return data<T>(); }
  template <class T> std::vector<T> to_vector() const;  // CPU tensors only
  double item() const;                                   // CPU, one element, any dtype

  // Explicit copies.
  Tensor clone() const;
  Tensor to(Device device) const;
  // CPU conversion between any two dtypes (to bf16 rounds to nearest even); keeps the format.
  Tensor to(DType dtype) const;
  void copy_from(const Tensor& src);  // same shape, dtype and format, any devices
  // The same memory under another shape with the same number of elements, contiguous. A
  // channels_last (N, C, H, W) tensor may only become (N, C H W), whose rows then hold each
  // example in memory order, (H, W, C): what feature extraction flattens.
  Tensor reshaped(Shape shape) &&;

  std::string describe() const;  // "f32 (2, 3) on cpu", "bf16 (8, 3, 32, 32) channels_last on cuda:0 (...)"

 private:
  void check_dtype(DType expected) const;
  void check_host() const;
  void release();

  Shape shape_;
  DType dtype_ = DType::f32;
  MemoryFormat format_ = MemoryFormat::contiguous;
  DeviceContext* context_ = nullptr;
  void* data_ = nullptr;
  bool borrowed_ = false;
};

// Copies bytes between any two devices; a copy to the host waits for the data.
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t bytes);

template <class T>
Tensor Tensor::from_vector(Shape shape, const std::vector<T>& values) {
  CONVLAB_CHECK(shape.numel() == static_cast<int64_t>(values.size()),
                "shape {} needs {} values, got {}", shape.str(), shape.numel(), values.size());
  Tensor t = empty(std::move(shape), dtype_of<T>(), cpu());
  std::copy(values.begin(), values.end(), t.host<T>());
  return t;
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  const T* p = host<T>();
  return std::vector<T>(p, p + numel());
}

}  // namespace convlab
