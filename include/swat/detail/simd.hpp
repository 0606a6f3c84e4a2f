// Vector traits: the small set of operations the kernels are written in, for every xsimd
// architecture and for the one-lane portable path. Kernels say Vec<T, Arch>::fma(...), never
// an intrinsic, so one kernel source serves every instruction set.
#pragma once

#include "isa_namespace.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include <xsimd/xsimd.hpp>

#include "../isa.hpp"

namespace swat {
namespace detail {
inline namespace SWAT_ISA_NAMESPACE {

// +inf without std::numeric_limits, whose out-of-line copy (in unoptimised builds) would be one
// more function shared between translation units built for different ISAs.
template <class T>
constexpr T infinity() {
  return static_cast<T>(HUGE_VAL);
}

template <class T, class Arch>
struct Vec {
  using type = xsimd::batch<T, Arch>;
  using mask = xsimd::batch_bool<T, Arch>;
  static constexpr std::size_t width = type::size;

  static type load(const T* p) { return type::load_unaligned(p); }
  static void store(T* p, const type& x) { x.store_unaligned(p); }
  static type broadcast(T x) { return type(x); }
  static type fma(const type& a, const type& b, const type& c) { return xsimd::fma(a, b, c); }
  static type max(const type& a, const type& b) { return xsimd::max(a, b); }
  static type min(const type& a, const type& b) { return xsimd::min(a, b); }
  static type abs(const type& a) { return xsimd::abs(a); }
  static type select(const mask& m, const type& a, const type& b) { return xsimd::select(m, a, b); }
  // 0, 1, 2, ... width-1
  static type iota() {
    alignas(64) T lanes[width];
    for (std::size_t i = 0; i < width; ++i) lanes[i] = static_cast<T>(i);
    return type::load_aligned(lanes);
  }
  // 2^n for integral-valued n in the normal range, built in the exponent field: n arrives as
  // n + magic (magic = 1.5 * 2^mantissa_bits + exponent_bias), so its low bits hold n + bias.
  static type exp2_of_biased(const type& n_plus_magic) {
    using int_t = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
    using ibatch = xsimd::batch<int_t, Arch>;
    constexpr int mantissa_bits = sizeof(T) == 4 ? 23 : 52;
    const ibatch bits = xsimd::bitwise_cast<ibatch>(n_plus_magic) << mantissa_bits;
    return xsimd::bitwise_cast<type>(bits);
  }
};

template <class T>
struct Vec<T, portable_arch> {
  using type = T;
  using mask = bool;
  static constexpr std::size_t width = 1;

  static type load(const T* p) { return *p; }
  static void store(T* p, type x) { *p = x; }
  static type broadcast(T x) { return x; }
  static type fma(type a, type b, type c) { return a * b + c; }
  // Like maxps: when either is NaN the second operand is returned.
  static type max(type a, type b) { return a > b ? a : b; }
  static type min(type a, type b) { return a < b ? a : b; }
  static type abs(type a) { return std::fabs(a); }
  static type select(mask m, type a, type b) { return m ? a : b; }
  static type iota() { return T(0); }
  static type exp2_of_biased(type n_plus_magic) {
    using uint_t = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
    constexpr int mantissa_bits = sizeof(T) == 4 ? 23 : 52;
    uint_t bits;
    std::memcpy(&bits, &n_plus_magic, sizeof bits);
    bits <<= mantissa_bits;
    T out;
    std::memcpy(&out, &bits, sizeof out);
    return out;
  }
};

}  // namespace SWAT_ISA_NAMESPACE
}  // namespace detail
}  // namespace swat
