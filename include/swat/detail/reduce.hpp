// Horizontal reductions: one vector to a scalar, and W vectors to one vector of their sums
// (the "transposing" add the decode kernel uses to finish W dot products at once).
//
// Debian's xsimd 8.1.0 gets `haddp` wrong on batch<float, avx512f>: its lanes come back
// permuted (2<->4, 3<->5, 10<->12, 11<->13). So the AVX-512 reductions here are our own; the
// other paths use xsimd's, which the per-ISA known-answer tests (tests/primitives_test.cpp) check.
#pragma once

#include "isa_namespace.hpp"

#include <cstddef>
#include <cstdint>

#include "compiler.hpp"
#include "simd.hpp"

namespace swat {
namespace detail {
inline namespace SWAT_ISA_NAMESPACE {

// Sum of the lanes of x, in a fixed order (the same bits on every call).
template <class T, class Arch>
inline T horizontal_sum(const typename Vec<T, Arch>::type& x) {
  constexpr std::size_t W = Vec<T, Arch>::width;
  if constexpr (W == 1) {
    return x;
  } else {
    alignas(64) T lanes[W];
    x.store_aligned(lanes);
    // Pairwise, as a vector tree would: halves, then quarters...
    for (std::size_t half = W / 2; half > 0; half /= 2)
      for (std::size_t i = 0; i < half; ++i) lanes[i] += lanes[i + half];
    return lanes[0];
  }
}

#if defined(__AVX512F__)
// The shuffles in their zero-masked form with a full mask: the same instructions, but GCC 12's
// plain forms start from _mm512_undefined_ps() and warn (-Wuninitialized) wherever inlined.
#define shuffle_f32x4(a, b, imm) _mm512_maskz_shuffle_f32x4(0xFFFF, a, b, imm)
#define shuffle_ps(a, b, imm) _mm512_maskz_shuffle_ps(0xFFFF, a, b, imm)
#define shuffle_f64x2(a, b, imm) _mm512_maskz_shuffle_f64x2(0xFF, a, b, imm)
#define unpacklo_pd(a, b) _mm512_maskz_unpacklo_pd(0xFF, a, b)
#define unpackhi_pd(a, b) _mm512_maskz_unpackhi_pd(0xFF, a, b)

// Lane u of the result is the sum of the lanes of acc[u]. Each level folds two vectors into one,
// halving the span each source occupies: 512 -> 256 -> 128 -> 64 -> 32 bits. A fold adds x, which
// keeps the parts of a and b that stay where they are (a blend), and y, the other parts moved
// across (one shuffle): a + b's parts in one blend and one shuffle where taking both parts by
// shuffles cost two (15 shuffles for the 16 vectors instead of 30; GQA 32 over 8 in bf16 at
// w 65536, one thread, steps alternated in one process: 10.93-11.00 against 11.26-11.37 ms,
// w 8192 level). Blending keeps each part in place, so the folds of 256 and of 64 bits leave
// their halves crossed (a's second half where b's first was); with both folds crossing, every
// sum still lands in its own lane, and the sums add the same pairs as an in-order tree.
SWAT_INLINE __m512 transpose_sum_avx512(const __m512* acc) {
  __m512 r1[8], r2[4], r3[2];
  SWAT_UNROLL
  for (int u = 0; u < 8; ++u) {  // 256-bit halves: [a.lo + a.hi, b.hi + b.lo]
    const __m512 a = acc[u], b = acc[u + 8];
    r1[u] = _mm512_add_ps(_mm512_mask_blend_ps(0xFF00, a, b), shuffle_f32x4(a, b, _MM_SHUFFLE(1, 0, 3, 2)));
  }
  SWAT_UNROLL
  for (int u = 0; u < 4; ++u) {  // 128-bit quarters, crossed: [c0 + c1, d0 + d1, c2 + c3, d2 + d3]
    const __m512 c = r1[u], d = r1[u + 4];
    const __m512 moved = _mm512_mask_blend_ps(0x0F0F, c, d);  // d0 c1 d2 c3
    r2[u] = _mm512_add_ps(_mm512_mask_blend_ps(0xF0F0, c, d), shuffle_f32x4(moved, moved, _MM_SHUFFLE(2, 3, 0, 1)));
  }
  SWAT_UNROLL
  for (int u = 0; u < 2; ++u)  // 64-bit halves of each quarter
    r3[u] = _mm512_add_ps(_mm512_mask_blend_ps(0xCCCC, r2[u], r2[u + 2]),
                          shuffle_ps(r2[u], r2[u + 2], _MM_SHUFFLE(1, 0, 3, 2)));
  // 32-bit lanes, crossed as the quarters were.
  const __m512 moved = _mm512_mask_blend_ps(0x5555, r3[0], r3[1]);
  return _mm512_add_ps(_mm512_mask_blend_ps(0xAAAA, r3[0], r3[1]), _mm512_permute_ps(moved, _MM_SHUFFLE(2, 3, 0, 1)));
}

// The same for 8 doubles: 512 -> 256 -> 128 -> 64 bits; index bits b1<->b2 come out swapped.
inline __m512d transpose_sum_avx512(const __m512d* acc) {
  constexpr auto swap = [](int s) { return (s & 1) | ((s & 2) << 1) | ((s >> 1) & 2); };
  __m512d r1[4], r2[2];
  SWAT_UNROLL
  for (int u = 0; u < 4; ++u) {
    const __m512d a = acc[swap(u)], b = acc[swap(u + 4)];
    r1[u] = _mm512_add_pd(shuffle_f64x2(a, b, _MM_SHUFFLE(1, 0, 1, 0)),
                          shuffle_f64x2(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
  }
  SWAT_UNROLL
  for (int u = 0; u < 2; ++u)
    r2[u] = _mm512_add_pd(shuffle_f64x2(r1[u], r1[u + 2], _MM_SHUFFLE(2, 0, 2, 0)),
                          shuffle_f64x2(r1[u], r1[u + 2], _MM_SHUFFLE(3, 1, 3, 1)));
  return _mm512_add_pd(unpacklo_pd(r2[0], r2[1]), unpackhi_pd(r2[0], r2[1]));
}
#undef shuffle_f32x4
#undef shuffle_ps
#undef shuffle_f64x2
#undef unpacklo_pd
#undef unpackhi_pd
#endif

// out lane u = sum of the lanes of acc[u], for u < width.
template <class T, class Arch>
SWAT_INLINE typename Vec<T, Arch>::type transpose_sum(const typename Vec<T, Arch>::type* acc) {
  using V = Vec<T, Arch>;
  if constexpr (V::width == 1) {
    return acc[0];
  } else if constexpr (is_emulated_arch<Arch>) {
    // An emulated width: each lane's sum in the order horizontal_sum adds it.
    typename V::type out;
    for (std::size_t u = 0; u < V::width; ++u) out.lane[u] = horizontal_sum<T, Arch>(acc[u]);
    return out;
  } else {
#if defined(__AVX512F__) && XSIMD_WITH_AVX512F
    if constexpr (std::is_same<Arch, xsimd::avx512f>::value) {
      if constexpr (std::is_same<T, float>::value) {
        __m512 in[16];
        SWAT_UNROLL
        for (int u = 0; u < 16; ++u) in[u] = acc[u];
        return transpose_sum_avx512(in);
      } else {
        __m512d in[8];
        SWAT_UNROLL
        for (int u = 0; u < 8; ++u) in[u] = acc[u];
        return transpose_sum_avx512(in);
      }
    } else
#endif
    {
      return xsimd::haddp(acc);
    }
  }
}

}  // namespace SWAT_ISA_NAMESPACE
}  // namespace detail
}  // namespace swat
