// Dot products of bf16 pairs into float (AVX-512 BF16's vdpbf16ps), for forward<bf16> and the
// bf16 cache's q.k: the micro-kernel step (a broadcast pair times a vector of pairs, or two
// vectors of pairs lane by lane), the rounding of float rows into pairs, and where the products
// exist.
//
// A pair is two bf16 values in one 32-bit word, the first in the low half. One step adds, per
// float lane, a.lo * b.lo + a.hi * b.hi: each product of two bf16 values is exact in float, so
// the only roundings are the two additions (and the one rounding of each operand to bf16).
//
// The products exist on the avx512 path when the CPU has AVX-512 BF16 (checked at run time;
// the instruction is written in inline assembly, so no translation unit needs -mavx512bf16 and
// none can emit it by accident), and on the 16-lane emulated path (plain loops, so that any CPU
// tests the pairing logic at AVX-512's width; the 4- and 8-lane ones keep float products, which
// keeps the test build's extra kernels to one path). Other paths have none.
#pragma once

#include "isa_namespace.hpp"

#include <cstdint>
#include <cstring>

#include "../isa.hpp"
#include "compiler.hpp"
#include "convert.hpp"
#include "simd.hpp"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace swat {
namespace detail {
inline namespace SWAT_ISA_NAMESPACE {

// A pair from two bf16 bit patterns.
inline uint32_t bf16_pair(uint16_t lo, uint16_t hi) { return static_cast<uint32_t>(lo) | static_cast<uint32_t>(hi) << 16; }

// Where bf16 pair products exist. `available`: the path is built with them; runs(): this CPU
// executes them.
template <class Arch>
struct Bf16Dot {
  static constexpr bool available = false;
  static bool runs() { return false; }
};

template <>
struct Bf16Dot<emulated_arch<16>> {
  static constexpr bool available = true;
  static bool runs() { return true; }
};

#if XSIMD_WITH_AVX512F && defined(__AVX512F__) && (defined(__GNUC__) || defined(__clang__))
template <>
struct Bf16Dot<xsimd::avx512f> {
  static constexpr bool available = true;
  static bool runs() {
    static const bool has = cpu_has_avx512_bf16();
    return has;
  }
};
#endif

// One step of the micro-kernel (microkernel.hpp's Step): A and B hold pairs, C floats.
template <class Arch>
struct Bf16PairStep;

template <int N>
struct Bf16PairStep<emulated_arch<N>> {
  using a_type = uint32_t;
  using b_type = uint32_t;
  using c_type = float;
  using a_vec = uint32_t;
  using b_vec = EmulatedBatch<uint32_t, N>;
  using acc = EmulatedBatch<float, N>;
  static a_vec broadcast_a(const a_type* a) {
    a_vec x;
    std::memcpy(&x, a, sizeof x);
    return x;
  }
  static b_vec load_b(const b_type* b) { return b_vec::load_unaligned(b); }
  // N pairs from memory that holds them as 2N bf16 values in order (a bf16 row).
  static b_vec load_pairs(const void* p) {
    b_vec r;
    std::memcpy(r.lane, p, sizeof r.lane);
    return r;
  }
  static acc madd(a_vec a, const b_vec& b, const acc& c) {
    acc r;
    for (int i = 0; i < N; ++i) r.lane[i] = lane(a, b.lane[i], c.lane[i]);
    return r;
  }
  // Lane by lane: c[i] + a[i].lo * b[i].lo + a[i].hi * b[i].hi.
  static acc madd_lanes(const b_vec& a, const b_vec& b, const acc& c) {
    acc r;
    for (int i = 0; i < N; ++i) r.lane[i] = lane(a.lane[i], b.lane[i], c.lane[i]);
    return r;
  }
  // vdpbf16ps's order: the high products first, each addition rounded (the products are exact).
  static float lane(uint32_t a, uint32_t b, float c) {
    const float a_lo = bf16_to_float_portable(static_cast<uint16_t>(a)),
                a_hi = bf16_to_float_portable(static_cast<uint16_t>(a >> 16));
    const float b_lo = bf16_to_float_portable(static_cast<uint16_t>(b)),
                b_hi = bf16_to_float_portable(static_cast<uint16_t>(b >> 16));
    const float with_hi = c + a_hi * b_hi;
    return with_hi + a_lo * b_lo;
  }
};

#if XSIMD_WITH_AVX512F && defined(__AVX512F__) && (defined(__GNUC__) || defined(__clang__))
template <>
struct Bf16PairStep<xsimd::avx512f> {
  using a_type = uint32_t;
  using b_type = uint32_t;
  using c_type = float;
  using a_vec = __m512i;
  using b_vec = __m512i;
  using acc = xsimd::batch<float, xsimd::avx512f>;
  static a_vec broadcast_a(const a_type* a) {
    int x;
    std::memcpy(&x, a, sizeof x);
    return _mm512_set1_epi32(x);
  }
  static b_vec load_b(const b_type* b) { return _mm512_loadu_si512(b); }
  static b_vec load_pairs(const void* p) { return _mm512_loadu_si512(p); }
  static acc madd(const a_vec& a, const b_vec& b, const acc& c) {
    __m512 sum = c;
    // vdpbf16ps sum, a, b (AT&T operand order: b, a, sum).
    __asm__("vdpbf16ps %2, %1, %0" : "+v"(sum) : "v"(a), "v"(b));
    return sum;
  }
  // a is a vector of pairs already, so the one instruction serves both.
  static acc madd_lanes(const b_vec& a, const b_vec& b, const acc& c) { return madd(a, b, c); }
};
#endif

// out[l] = pair(bf16(lo[l]), bf16(hi[l])) for l < n, n a multiple of the path's float width;
// a null row stands for zeros.
template <class Arch>
inline void round_pairs(const float* lo, const float* hi, uint32_t* out, int64_t n) {
#if XSIMD_WITH_AVX512F && defined(__AVX512F__)
  if constexpr (is_avx512_arch<Arch>()) {
    const __m512i upper = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
    // The bf16 bits of 16 floats in the upper halves of their lanes, the lower halves zero.
    const auto round = [&](const float* row) {
      if (row == nullptr) return _mm512_setzero_si512();
      return _mm512_and_si512(bf16_rounded_avx512(_mm512_loadu_ps(row)), upper);
    };
    for (int64_t l = 0; l < n; l += 16) {
      const __m512i low = _mm512_srli_epi32(round(lo ? lo + l : nullptr), 16), high = round(hi ? hi + l : nullptr);
      _mm512_storeu_si512(out + l, _mm512_or_si512(low, high));
    }
    return;
  }
#endif
  for (int64_t l = 0; l < n; ++l)
    out[l] = bf16_pair(lo ? float_to_bf16_portable(lo[l]) : uint16_t(0), hi ? float_to_bf16_portable(hi[l]) : uint16_t(0));
}

// out[p] = pair(bf16(in[2p]), bf16(in[2p + 1])) for 2p < n, the last one's high half zero when
// n is odd: a row of n floats rounded to bf16, whose values in order are its pairs.
template <class Arch>
inline void round_row_pairs(const float* in, uint32_t* out, int64_t n) {
  int64_t c = 0;
#if XSIMD_WITH_AVX512F && defined(__AVX512F__)
  if constexpr (is_avx512_arch<Arch>())
    for (; c + 16 <= n; c += 16) store_bf16_avx512(out + c / 2, in + c);  // 16 values, 8 pairs
#endif
  for (; c < n; c += 2)
    out[c / 2] = bf16_pair(float_to_bf16_portable(in[c]), c + 1 < n ? float_to_bf16_portable(in[c + 1]) : uint16_t(0));
}

}  // namespace SWAT_ISA_NAMESPACE
}  // namespace detail
}  // namespace swat
