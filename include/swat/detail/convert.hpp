// Conversions between the 16-bit storage types (bf16, f16) and float, scalar and vectorised,
// for every ISA path. Kernels load storage into fp32 batches here and round once on store.
//
// Rounding is to nearest, ties to even. NaN stays NaN with its sign, made quiet, its payload
// truncated (what vcvtps2ph and vcvtneps2bf16 do); infinities and denormals convert exactly
// or round like any other value. The native paths (F16C for f16 under AVX2, AVX-512F's own
// conversions) give the same bits as the portable code; tests/convert_test.cpp checks both.
#pragma once

#include "isa_namespace.hpp"

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../types.hpp"
#include "simd.hpp"

#if defined(__F16C__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace swat {
namespace detail {

// Bulk conversions of one ISA path (function pointers: they cross ISA translation units).
template <class S>
struct Converters {
  void (*to_float)(const S* in, float* out, int64_t n) = nullptr;
  void (*from_float)(const float* in, S* out, int64_t n) = nullptr;
};

inline namespace SWAT_ISA_NAMESPACE {

inline uint32_t float_bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}
inline float bits_float(uint32_t u) {
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

// ---- portable scalar conversions ----------------------------------------------------------

inline float bf16_to_float_portable(uint16_t h) { return bits_float(static_cast<uint32_t>(h) << 16); }

inline uint16_t float_to_bf16_portable(float x) {
  const uint32_t u = float_bits(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);  // quiet NaN
  // Adding 0x7fff plus the lowest kept bit rounds to nearest, ties to even; a carry into the
  // exponent is right (it rounds up to the next binade, or to infinity).
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

inline float f16_to_float_portable(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
  if (exponent == 0x1f)  // inf, or NaN made quiet
    return bits_float(sign | 0x7f800000u | (mantissa << 13) | (mantissa ? 0x00400000u : 0u));
  if (exponent != 0) return bits_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
  // Zero or denormal: mantissa * 2^-24, exact in float.
  const float magnitude = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
  return bits_float(sign | float_bits(magnitude));
}

inline uint16_t float_to_f16_portable(float x) {
  uint32_t u = float_bits(x);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  u &= 0x7fffffffu;
  if (u > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((u >> 13) & 0x3ffu));  // quiet NaN
  if (u >= 0x47800000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65536 (and inf): inf
  if (u < 0x38800000u) {
    // Below the smallest normal half (2^-14): the result is round(|x| / 2^-24), an integer
    // < 1024. Adding 0.5 (2^-1) with the binade pinned makes the FPU round to even for us:
    // |x| + 2^-1 has ulp 2^-24 exactly.
    const float shifted = bits_float(u) + 0.5f;
    return static_cast<uint16_t>(sign | (float_bits(shifted) - 0x3f000000u));
  }
  // Normal: rebias the exponent and round the 13 dropped bits to nearest even; a carry out of
  // the mantissa moves to the next binade, and from 65520 up to infinity.
  const uint32_t odd = (u >> 13) & 1u;
  u += 0xc8000fffu + odd;  // (15 - 127) << 23, plus the rounding increment
  return static_cast<uint16_t>(sign | (u >> 13));
}

// ---- scalar conversions the kernels use ---------------------------------------------------

inline float load_scalar(bf16 x) { return bf16_to_float_portable(x.bits); }
inline float load_scalar(f16 x) {
#if defined(__F16C__)
  return _cvtsh_ss(x.bits);
#else
  return f16_to_float_portable(x.bits);
#endif
}
inline float load_scalar(float x) { return x; }
inline double load_scalar(double x) { return x; }

template <class S, class T>
inline S store_scalar(T x) {
  if constexpr (std::is_same<S, bf16>::value) {
    return bf16::from_bits(float_to_bf16_portable(static_cast<float>(x)));
  } else if constexpr (std::is_same<S, f16>::value) {
#if defined(__F16C__)
    return f16::from_bits(static_cast<uint16_t>(_cvtss_sh(static_cast<float>(x), _MM_FROUND_TO_NEAREST_INT)));
#else
    return f16::from_bits(float_to_f16_portable(static_cast<float>(x)));
#endif
  } else {
    return static_cast<S>(x);
  }
}

// The type arithmetic happens in: double for double, float for everything else.
template <class S>
using compute_t = std::conditional_t<std::is_same<S, double>::value, double, float>;

// ---- vectorised: Vec<T, Arch>::width storage elements into one batch of T -----------------

template <class T, class Arch, class S>
inline typename Vec<T, Arch>::type load_as(const S* p) {
  using V = Vec<T, Arch>;
  if constexpr (std::is_same<S, T>::value) {
    return V::load(p);
  } else {
    static_assert(std::is_same<T, float>::value, "16-bit storage loads into float");
#if defined(__AVX2__)
    if constexpr (is_avx2_arch<Arch>()) {
      const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      if constexpr (std::is_same<S, bf16>::value) {
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(raw), 16));
      } else {
#if defined(__F16C__)
        return _mm256_cvtph_ps(raw);
#endif
      }
    }
#endif
#if defined(__AVX512F__)
    if constexpr (is_avx512_arch<Arch>()) {
      const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
      if constexpr (std::is_same<S, bf16>::value)
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16));
      else
        return _mm512_cvtph_ps(raw);
    }
#endif
    if constexpr (V::width == 1) {
      return load_scalar(*p);
    } else {
      alignas(64) T lanes[V::width];
      for (std::size_t i = 0; i < V::width; ++i) lanes[i] = load_scalar(p[i]);
      return V::type::load_aligned(lanes);
    }
  }
}

// Converts n values (any n) from S to float, a batch at a time where the path has native loads.
template <class Arch, class S>
inline void convert_to_float(const S* in, float* out, int64_t n) {
  using V = Vec<float, Arch>;
  constexpr int64_t W = static_cast<int64_t>(V::width);
  int64_t i = 0;
  for (; i + W <= n; i += W) V::store(out + i, load_as<float, Arch>(in + i));
  for (; i < n; ++i) out[i] = load_scalar(in[i]);
}

#if defined(__AVX512F__)
// float_to_bf16_portable in 16 lanes: the bf16 bits of each lane in its upper half (the lower
// half holds the rounding's leftovers).
inline __m512i bf16_rounded_avx512(__m512 x) {
  const __m512i u = _mm512_castps_si512(x);
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  const __m512i rounded = _mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), odd);
  const __mmask16 nan =
      _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
  return _mm512_mask_mov_epi32(rounded, nan, _mm512_or_si512(u, _mm512_set1_epi32(0x00400000)));
}

// float_to_bf16_portable of in[0..16) into out[0..16) (16-bit patterns; any destination type).
inline void store_bf16_avx512(void* out, const float* in) {
  _mm256_storeu_si256(static_cast<__m256i*>(out),
                      _mm512_cvtepi32_epi16(_mm512_srli_epi32(bf16_rounded_avx512(_mm512_loadu_ps(in)), 16)));
}
#endif

template <class Arch, class S>
inline void convert_from_float(const float* in, S* out, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512F__)
  if constexpr (std::is_same<S, bf16>::value && is_avx512_arch<Arch>())
    for (; i + 16 <= n; i += 16) store_bf16_avx512(out + i, in + i);
#endif
#if defined(__F16C__)
  if constexpr (std::is_same<S, f16>::value && (is_avx2_arch<Arch>() || is_avx512_arch<Arch>()))
    for (; i + 8 <= n; i += 8)
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                       _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT));
#endif
  for (; i < n; ++i) out[i] = store_scalar<S>(in[i]);
}

}  // namespace SWAT_ISA_NAMESPACE
}  // namespace detail
}  // namespace swat

namespace swat {

// The members use the conversions of the including translation unit's own flags (F16C when
// enabled). Kernels never call them: they use the functions above, under their ISA's namespace.
namespace detail {

template <Format16 Format>
inline Float16<Format>::Float16(float x) : bits(store_scalar<Float16<Format>>(x).bits) {}

template <Format16 Format>
inline Float16<Format>::operator float() const {
  return load_scalar(*this);
}

}  // namespace detail
}  // namespace swat
