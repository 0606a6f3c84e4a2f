// Vector traits: the small set of operations the kernels are written in, for every xsimd
// architecture, for the one-lane portable path and for the emulated N-lane paths. Kernels say Vec<T, Arch>::fma(...), never
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
  static bool all(const mask& m) { return xsimd::all(m); }  // every lane true
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
  static bool all(mask m) { return m; }
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

// The xsimd architectures of the paths whose code differs beyond the vector width.
template <class Arch>
constexpr bool is_avx2_arch() {
#if XSIMD_WITH_FMA3_AVX2
  return std::is_same<Arch, xsimd::fma3<xsimd::avx2>>::value;
#else
  return false;
#endif
}
template <class Arch>
constexpr bool is_avx512_arch() {
#if XSIMD_WITH_AVX512F
  return std::is_same<Arch, xsimd::avx512f>::value;
#else
  return false;
#endif
}

// ---- emulated widths: N lanes on a plain array ----------------------------------------------
// What an xsimd batch offers the kernels, one loop per operation (as Highway's EMU128 and
// xsimd's emulated batches do), so a test can run AVX-512's 16 lanes on a CPU without them.

template <class Arch>
constexpr bool is_emulated_arch = false;
template <int N>
constexpr bool is_emulated_arch<emulated_arch<N>> = true;

template <class T, int N>
struct EmulatedMask {
  bool lane[N];
  friend EmulatedMask operator&(const EmulatedMask& a, const EmulatedMask& b) {
    EmulatedMask r;
    for (int i = 0; i < N; ++i) r.lane[i] = a.lane[i] && b.lane[i];
    return r;
  }
  friend EmulatedMask operator|(const EmulatedMask& a, const EmulatedMask& b) {
    EmulatedMask r;
    for (int i = 0; i < N; ++i) r.lane[i] = a.lane[i] || b.lane[i];
    return r;
  }
  friend EmulatedMask operator!(const EmulatedMask& a) {
    EmulatedMask r;
    for (int i = 0; i < N; ++i) r.lane[i] = !a.lane[i];
    return r;
  }
};

template <class T, int N>
struct EmulatedBatch {
  static constexpr std::size_t size = N;
  using mask = EmulatedMask<T, N>;
  T lane[N];

  EmulatedBatch() = default;
  EmulatedBatch(T x) {  // broadcast, as xsimd's batch(T) is
    for (int i = 0; i < N; ++i) lane[i] = x;
  }
  static EmulatedBatch load_unaligned(const T* p) {
    EmulatedBatch r;
    std::memcpy(r.lane, p, sizeof r.lane);
    return r;
  }
  static EmulatedBatch load_aligned(const T* p) { return load_unaligned(p); }
  void store_unaligned(T* p) const { std::memcpy(p, lane, sizeof lane); }
  void store_aligned(T* p) const { store_unaligned(p); }

  template <class F>
  static EmulatedBatch map(const EmulatedBatch& a, const EmulatedBatch& b, F f) {
    EmulatedBatch r;
    for (int i = 0; i < N; ++i) r.lane[i] = f(a.lane[i], b.lane[i]);
    return r;
  }
  template <class F>
  static mask compare(const EmulatedBatch& a, const EmulatedBatch& b, F f) {
    mask r;
    for (int i = 0; i < N; ++i) r.lane[i] = f(a.lane[i], b.lane[i]);
    return r;
  }

  friend EmulatedBatch operator+(const EmulatedBatch& a, const EmulatedBatch& b) {
    return map(a, b, [](T x, T y) { return x + y; });
  }
  friend EmulatedBatch operator-(const EmulatedBatch& a, const EmulatedBatch& b) {
    return map(a, b, [](T x, T y) { return x - y; });
  }
  friend EmulatedBatch operator*(const EmulatedBatch& a, const EmulatedBatch& b) {
    return map(a, b, [](T x, T y) { return x * y; });
  }
  friend EmulatedBatch operator/(const EmulatedBatch& a, const EmulatedBatch& b) {
    return map(a, b, [](T x, T y) { return x / y; });
  }
  friend EmulatedBatch operator-(const EmulatedBatch& a) {
    EmulatedBatch r;
    for (int i = 0; i < N; ++i) r.lane[i] = -a.lane[i];
    return r;
  }
  EmulatedBatch& operator+=(const EmulatedBatch& b) { return *this = *this + b; }
  EmulatedBatch& operator-=(const EmulatedBatch& b) { return *this = *this - b; }
  EmulatedBatch& operator*=(const EmulatedBatch& b) { return *this = *this * b; }
  EmulatedBatch& operator/=(const EmulatedBatch& b) { return *this = *this / b; }

  friend mask operator<(const EmulatedBatch& a, const EmulatedBatch& b) {
    return compare(a, b, [](T x, T y) { return x < y; });
  }
  friend mask operator<=(const EmulatedBatch& a, const EmulatedBatch& b) {
    return compare(a, b, [](T x, T y) { return x <= y; });
  }
  friend mask operator>(const EmulatedBatch& a, const EmulatedBatch& b) {
    return compare(a, b, [](T x, T y) { return x > y; });
  }
  friend mask operator>=(const EmulatedBatch& a, const EmulatedBatch& b) {
    return compare(a, b, [](T x, T y) { return x >= y; });
  }
  friend mask operator==(const EmulatedBatch& a, const EmulatedBatch& b) {
    return compare(a, b, [](T x, T y) { return x == y; });
  }
  friend mask operator!=(const EmulatedBatch& a, const EmulatedBatch& b) {
    return compare(a, b, [](T x, T y) { return x != y; });
  }
};

// Lane by lane, each operation is the portable path's: the same results as width 1, in N lanes.
template <class T, int N>
struct Vec<T, emulated_arch<N>> {
  using P = Vec<T, portable_arch>;
  using type = EmulatedBatch<T, N>;
  using mask = EmulatedMask<T, N>;
  static constexpr std::size_t width = N;

  static type load(const T* p) { return type::load_unaligned(p); }
  static void store(T* p, const type& x) { x.store_unaligned(p); }
  static type broadcast(T x) { return type(x); }
  static type fma(const type& a, const type& b, const type& c) {
    type r;
    for (int i = 0; i < N; ++i) r.lane[i] = P::fma(a.lane[i], b.lane[i], c.lane[i]);
    return r;
  }
  static type max(const type& a, const type& b) { return type::map(a, b, [](T x, T y) { return P::max(x, y); }); }
  static type min(const type& a, const type& b) { return type::map(a, b, [](T x, T y) { return P::min(x, y); }); }
  static type abs(const type& a) { return type::map(a, a, [](T x, T) { return P::abs(x); }); }
  static type select(const mask& m, const type& a, const type& b) {
    type r;
    for (int i = 0; i < N; ++i) r.lane[i] = m.lane[i] ? a.lane[i] : b.lane[i];
    return r;
  }
  static bool all(const mask& m) {
    for (int i = 0; i < N; ++i)
      if (!m.lane[i]) return false;
    return true;
  }
  static type iota() {
    type r;
    for (int i = 0; i < N; ++i) r.lane[i] = static_cast<T>(i);
    return r;
  }
  static type exp2_of_biased(const type& n_plus_magic) {
    return type::map(n_plus_magic, n_plus_magic, [](T x, T) { return P::exp2_of_biased(x); });
  }
};

}  // namespace SWAT_ISA_NAMESPACE
}  // namespace detail
}  // namespace swat
