// View4: a strided 4-d view [batch, seq, heads, dim] over caller-owned memory.
#pragma once

#include <array>
#include <cstdint>
#include <type_traits>

namespace swat {

// Strides are in elements and may be anything (BSHD, BHSD, padded rows, a slice of a
// larger tensor); the library never assumes contiguity.
template <class T>
struct View4 {
  T* data = nullptr;
  std::array<int64_t, 4> shape{};   // batch, seq, heads, dim
  std::array<int64_t, 4> stride{};  // elements between neighbours along each axis

  int64_t batch() const { return shape[0]; }
  int64_t seq() const { return shape[1]; }
  int64_t heads() const { return shape[2]; }
  int64_t dim() const { return shape[3]; }

  T* at(int64_t b, int64_t s, int64_t h) const {
    return data + b * stride[0] + s * stride[1] + h * stride[2];
  }

  // A mutable view converts to a read-only one, so outputs of one call feed the next.
  template <class U = T, class = std::enable_if_t<!std::is_const<U>::value>>
  operator View4<const U>() const {
    return View4<const U>{data, shape, stride};
  }
};

// Contiguous [B, S, H, D] (the layout of most model code).
template <class T>
View4<T> bshd(T* data, int64_t B, int64_t S, int64_t H, int64_t D) {
  return View4<T>{data, {B, S, H, D}, {S * H * D, H * D, D, 1}};
}

// Memory [B, H, S, D] seen in logical order [B, S, H, D] (PyTorch's usual attention layout).
template <class T>
View4<T> bhsd(T* data, int64_t B, int64_t S, int64_t H, int64_t D) {
  return View4<T>{data, {B, S, H, D}, {H * S * D, D, S * D, 1}};
}

}  // namespace swat
