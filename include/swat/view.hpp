// View4: a strided 4-d view [batch, seq, heads, dim] over caller-owned memory.
#pragma once

#include <array>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "error.hpp"

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

namespace detail {

// A class with data() returning a pointer and size(): std::vector, std::array, std::span...
template <class C, class = void>
struct is_contiguous_container : std::false_type {};
template <class C>
struct is_contiguous_container<C, std::void_t<decltype(std::declval<C&>().data()), decltype(std::declval<C&>().size())>>
    : std::bool_constant<std::is_class<C>::value && std::is_pointer<decltype(std::declval<C&>().data())>::value> {};

template <class C>
using element_of = std::remove_pointer_t<decltype(std::declval<C&>().data())>;

// The element count B*S*H*D a container must hold; throws naming the layout and the sizes.
inline void check_container_size(const char* layout, std::size_t size, int64_t B, int64_t S, int64_t H, int64_t D) {
  const int64_t sizes[] = {B, S, H, D};
  const char* names[] = {"B", "S", "H", "D"};
  for (int axis = 0; axis < 4; ++axis)
    if (sizes[axis] < 0) fail(layout, ": ", names[axis], ": expected >= 0, got ", sizes[axis]);
  unsigned long long count = 1;
  bool overflow = false;
  for (int64_t n : sizes) overflow = overflow || __builtin_mul_overflow(count, static_cast<unsigned long long>(n), &count);
  if (overflow || count != size)
    fail(layout, ": container.size(): expected B*S*H*D = ", B, "*", S, "*", H, "*", D, " = ",
         overflow ? std::string("more than 2^64") : std::to_string(count), " elements, got ", size);
}

}  // namespace detail

// bshd and bhsd over a contiguous container (anything with data() and size(): std::vector,
// std::array, std::span, ...), checking that it holds exactly B*S*H*D elements (else
// swat::Error). The view is const when the container is; it refers to the container's memory,
// so the container must outlive it (an rvalue container is refused at compile time).
template <class C, class = std::enable_if_t<detail::is_contiguous_container<C>::value>>
View4<detail::element_of<C>> bshd(C& container, int64_t B, int64_t S, int64_t H, int64_t D) {
  detail::check_container_size("bshd", static_cast<std::size_t>(container.size()), B, S, H, D);
  return bshd(container.data(), B, S, H, D);
}

template <class C, class = std::enable_if_t<detail::is_contiguous_container<C>::value>>
View4<detail::element_of<C>> bhsd(C& container, int64_t B, int64_t S, int64_t H, int64_t D) {
  detail::check_container_size("bhsd", static_cast<std::size_t>(container.size()), B, S, H, D);
  return bhsd(container.data(), B, S, H, D);
}

namespace detail {

// For the overloads that take any mix of View4<T> and View4<const T> (users hold both):
// true when every element type is E or const E.
template <class E, class... Ts>
constexpr bool all_elements_are = (std::is_same<std::remove_const_t<Ts>, E>::value && ...);
// True when some of the types are const and some are not: the mixes the overloads for all-const
// and all-mutable views do not take.
template <class... Ts>
constexpr bool mixed_constness = !(std::is_const<Ts>::value && ...) && (std::is_const<Ts>::value || ...);

}  // namespace detail
}  // namespace swat
