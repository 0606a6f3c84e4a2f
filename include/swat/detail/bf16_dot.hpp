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
// keeps the test build's extra kernels to one path). Other paths have none. The bf16 cache's
// step takes them wherever they run (with GQA on Intel's cores as the same arithmetic in float
// FMAs, Bf16FmaPairStep); forward<bf16> where they also pay (cpu_bf16_products_pay: not on
// Intel's cores, which run them at half the rate of float products).
#pragma once

#include "isa_namespace.hpp"

#include <atomic>
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

// How the bf16 cache's step multiplies its pairs on the avx512 path: `automatic` takes
// vdpbf16ps, except for steps whose query heads share key rows (GQA) on cores where the
// instruction does not pay (Bf16Dot::pays), which take the same arithmetic in float FMAs
// (Bf16FmaPairStep). The tests set the other two to run both kernels on one CPU.
enum class PairArithmetic { automatic, instruction, fma };
inline std::atomic<PairArithmetic>& pair_arithmetic() {
  static std::atomic<PairArithmetic> choice{PairArithmetic::automatic};
  return choice;
}
// The arithmetic the latest such step took (instruction or fma), so that the tests see which
// kernel ran: the two give the same bits.
inline std::atomic<PairArithmetic>& pair_arithmetic_taken() {
  static std::atomic<PairArithmetic> taken{PairArithmetic::automatic};
  return taken;
}

inline namespace SWAT_ISA_NAMESPACE {

// A pair from two bf16 bit patterns.
inline uint32_t bf16_pair(uint16_t lo, uint16_t hi) { return static_cast<uint32_t>(lo) | static_cast<uint32_t>(hi) << 16; }

// Where bf16 pair products exist. `available`: the path is built with them; runs(): this CPU
// executes them (the cache's step takes them then); pays(): it also executes them faster than
// float products (forward<bf16> takes them then).
template <class Arch>
struct Bf16Dot {
  static constexpr bool available = false;
  static bool runs() { return false; }
  static bool pays() { return false; }
};

template <>
struct Bf16Dot<emulated_arch<16>> {
  static constexpr bool available = true;
  static bool runs() { return true; }
  static bool pays() { return true; }
};

#if XSIMD_WITH_AVX512F && defined(__AVX512F__) && (defined(__GNUC__) || defined(__clang__))
template <>
struct Bf16Dot<xsimd::avx512f> {
  static constexpr bool available = true;
  static bool runs() {
    static const bool has = cpu_has_avx512_bf16();
    return has;
  }
  static bool pays() {
    static const bool pay = cpu_bf16_products_pay();
    return pay;
  }
};
#endif

// One step of the micro-kernel (microkernel.hpp's Step): A and B hold pairs, C floats.
template <class Arch>
struct Bf16PairStep;

// The dim of lane l of Bf16PairStep::interleave_rows' lo (half 0) or hi (half 1) vector, the
// order AVX-512's word unpacks give (they work within 128-bit blocks of four pairs): the low
// four dims of each block of eight in lo, the high four in hi. The emulated path keeps it too,
// so that it tests that order.
inline int bf16_row_pair_dim(int l, int half) { return 8 * (l / 4) + 4 * half + l % 4; }

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
  // Two rows of 2N bf16 values (x, y, each loaded by load_pairs) as 2N pairs (x[d], y[d]) in
  // two vectors, lanes in pair_dim's order.
  static void interleave_rows(const b_vec& x, const b_vec& y, b_vec& lo, b_vec& hi) {
    uint16_t a[2 * N], b[2 * N];
    std::memcpy(a, x.lane, sizeof a);
    std::memcpy(b, y.lane, sizeof b);
    for (int l = 0; l < N; ++l) {
      lo.lane[l] = static_cast<uint32_t>(a[pair_dim(l, 0)]) | static_cast<uint32_t>(b[pair_dim(l, 0)]) << 16;
      hi.lane[l] = static_cast<uint32_t>(a[pair_dim(l, 1)]) | static_cast<uint32_t>(b[pair_dim(l, 1)]) << 16;
    }
  }
  static int pair_dim(int l, int half) { return bf16_row_pair_dim(l, half); }
  // 2N floats in dim order <-> two vectors in interleave_rows' lane order.
  static void to_pair_order(const float* in, acc& lo, acc& hi) {
    for (int l = 0; l < N; ++l) {
      lo.lane[l] = in[pair_dim(l, 0)];
      hi.lane[l] = in[pair_dim(l, 1)];
    }
  }
  static void from_pair_order(const acc& lo, const acc& hi, float* out) {
    for (int l = 0; l < N; ++l) {
      out[pair_dim(l, 0)] = lo.lane[l];
      out[pair_dim(l, 1)] = hi.lane[l];
    }
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
  // Two rows of 32 bf16 values (loaded by load_pairs) as 32 pairs (x[d], y[d]): lo holds dims
  // 0-3, 8-11, 16-19, 24-27 and hi the others (pair_dim).
  static void interleave_rows(const b_vec& x, const b_vec& y, b_vec& lo, b_vec& hi) {
    lo = _mm512_unpacklo_epi16(x, y);
    hi = _mm512_unpackhi_epi16(x, y);
  }
  static int pair_dim(int l, int half) { return bf16_row_pair_dim(l, half); }
  // 32 floats in dim order <-> two vectors in interleave_rows' lane order.
  static void to_pair_order(const float* in, acc& lo, acc& hi) {
    const __m512 a = _mm512_loadu_ps(in), b = _mm512_loadu_ps(in + 16);
    lo = _mm512_permutex2var_ps(a, _mm512_setr_epi32(0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27), b);
    hi = _mm512_permutex2var_ps(a, _mm512_setr_epi32(4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31), b);
  }
  static void from_pair_order(const acc& lo, const acc& hi, float* out) {
    // Lane m of the first half (dim m) is lane 4 (m / 8) + m % 4 of lo (m % 8 < 4) or hi (+ 16).
    const __m512i first = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
    const __m512i second = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
    _mm512_storeu_ps(out, _mm512_permutex2var_ps(lo, first, hi));
    _mm512_storeu_ps(out + 16, _mm512_permutex2var_ps(lo, second, hi));
  }
};

// vdpbf16ps's arithmetic in float FMAs, for cores that run the instruction at half the rate of
// their FMAs (Intel's: one every two cycles against two FMAs a cycle, so that two FMAs, which
// also make two products a lane, take half the time). Each half of a pair widened to a float
// (the high half masked in place, the low half shifted up), the high products added first, then
// the low ones: a product of two bf16 values is exact in float, so each FMA rounds only its
// sum, as the instruction rounds each addition. The bits are the instruction's, except that it
// reads subnormal bf16 inputs as zero and flushes subnormal results (so do the kernels, under
// FlushSubnormalResults), where these count the inputs at their value. On an Intel Xeon (CPUID
// family 6, model 207) the bf16 cache's step with GQA 32 over 8 (D 128, one thread) came out
// with the same bits and took 0.8x as long with the rows in the caches.
//
// Rows of bf16 values widen the same way without forming pairs first: a row's 32 values loaded
// as 16 words give its even dims (low halves) and odd dims (high halves) as floats, so decode's
// p.v (accumulate_pairs) multiplies two rows' values by their weights directly. Its sums are
// then in that order, even dims in lo and odd in hi (pair_dim), which interleave_rows and the
// pair-order moves keep too, so that the step is one consistent whole.
struct Bf16FmaPairStep : Bf16PairStep<xsimd::avx512f> {
  static acc madd(const a_vec& a, const b_vec& b, const acc& c) {
    return _mm512_fmadd_ps(low(a), low(b), _mm512_fmadd_ps(high(a), high(b), c));
  }
  static acc madd_lanes(const b_vec& a, const b_vec& b, const acc& c) { return madd(a, b, c); }
  // The halves of the pairs as floats: of a row's 32 values, the odd dims and the even ones.
  static __m512 high(const __m512i& x) {
    return _mm512_castsi512_ps(_mm512_and_si512(x, _mm512_set1_epi32(static_cast<int>(0xffff0000u))));
  }
  static __m512 low(const __m512i& x) { return _mm512_castsi512_ps(_mm512_slli_epi32(x, 16)); }
  // Two rows as pairs (x[d], y[d]): the even dims in lo, the odd ones in hi.
  static void interleave_rows(const b_vec& x, const b_vec& y, b_vec& lo, b_vec& hi) {
    lo = _mm512_mask_blend_epi16(0xAAAAAAAAu, x, _mm512_slli_epi32(y, 16));
    hi = _mm512_mask_blend_epi16(0xAAAAAAAAu, _mm512_srli_epi32(x, 16), y);
  }
  static int pair_dim(int l, int half) { return 2 * l + half; }
  static void to_pair_order(const float* in, acc& lo, acc& hi) {
    const __m512 a = _mm512_loadu_ps(in), b = _mm512_loadu_ps(in + 16);
    lo = _mm512_permutex2var_ps(a, _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30), b);
    hi = _mm512_permutex2var_ps(a, _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31), b);
  }
  static void from_pair_order(const acc& lo, const acc& hi, float* out) {
    const __m512i first = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i second = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    _mm512_storeu_ps(out, _mm512_permutex2var_ps(lo, first, hi));
    _mm512_storeu_ps(out + 16, _mm512_permutex2var_ps(lo, second, hi));
  }
};
#endif

// The pair products in float FMAs where the path has them (the avx512 one), else void.
template <class Arch>
struct Bf16FmaPairs {
  using type = void;
};
#if XSIMD_WITH_AVX512F && defined(__AVX512F__) && (defined(__GNUC__) || defined(__clang__))
template <>
struct Bf16FmaPairs<xsimd::avx512f> {
  using type = Bf16FmaPairStep;
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

// out[l] = in[l] rounded to bf16 (to nearest even), as a float, for l < n.
template <class Arch>
inline void round_row_floats(const float* in, float* out, int64_t n) {
  int64_t l = 0;
#if XSIMD_WITH_AVX512F && defined(__AVX512F__)
  if constexpr (is_avx512_arch<Arch>()) {
    const __m512i upper = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
    for (; l + 16 <= n; l += 16)
      _mm512_storeu_ps(out + l, _mm512_castsi512_ps(_mm512_and_si512(bf16_rounded_avx512(_mm512_loadu_ps(in + l)), upper)));
  }
#endif
  for (; l < n; ++l) out[l] = bf16_to_float_portable(float_to_bf16_portable(in[l]));
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
