// W x W block transposes (W = the path's vector width), for turning rows into the kernels'
// slabs ([dim][lanes]: one vector holds one dim of W rows) and back. AVX-512 float does it in
// registers (16 loads, 64 shuffles, 16 stores); every other path element by element, which is
// what the callers did before. tests/primitives_test.cpp checks it on every path.
#pragma once

#include "isa_namespace.hpp"

#include <cstdint>
#include <type_traits>

#include "buffer.hpp"
#include "compiler.hpp"
#include "simd.hpp"

namespace swat {
namespace detail {
inline namespace SWAT_ISA_NAMESPACE {

#if defined(__AVX512F__) && XSIMD_WITH_AVX512F
// The shuffles in their zero-masked form with a full mask (see reduce.hpp: GCC 12 warns on the
// plain forms wherever they are inlined).
#define swat_shuffle_f32x4(a, b, imm) _mm512_maskz_shuffle_f32x4(0xFFFF, a, b, imm)
#define swat_unpacklo_ps(a, b) _mm512_maskz_unpacklo_ps(0xFFFF, a, b)
#define swat_unpackhi_ps(a, b) _mm512_maskz_unpackhi_ps(0xFFFF, a, b)
#define swat_unpacklo_pd(a, b) _mm512_maskz_unpacklo_pd(0xFF, a, b)
#define swat_unpackhi_pd(a, b) _mm512_maskz_unpackhi_pd(0xFF, a, b)

// out[j][i] = in[i][j] for a 16 x 16 float block. Three steps: pairs of rows interleaved
// (32-bit), then pairs of those (64-bit), which leaves in each 128-bit lane L of r[4g + k] the
// column 4L + k of rows 4g .. 4g + 3; then the 128-bit lanes of the four r[4g + k] of one k
// are transposed as a 4 x 4 block, giving the columns 4L + k whole.
inline void transpose16_avx512(const float* in, int64_t in_stride, float* out, int64_t out_stride) {
  __m512 r[16], t[16];
  SWAT_UNROLL
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(in + i * in_stride);
  SWAT_UNROLL
  for (int i = 0; i < 16; i += 2) {
    t[i] = swat_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = swat_unpackhi_ps(r[i], r[i + 1]);
  }
  SWAT_UNROLL
  for (int g = 0; g < 4; ++g) {
    const __m512d a = _mm512_castps_pd(t[4 * g]), b = _mm512_castps_pd(t[4 * g + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * g + 2]), d = _mm512_castps_pd(t[4 * g + 3]);
    r[4 * g] = _mm512_castpd_ps(swat_unpacklo_pd(a, c));
    r[4 * g + 1] = _mm512_castpd_ps(swat_unpackhi_pd(a, c));
    r[4 * g + 2] = _mm512_castpd_ps(swat_unpacklo_pd(b, d));
    r[4 * g + 3] = _mm512_castpd_ps(swat_unpackhi_pd(b, d));
  }
  SWAT_UNROLL
  for (int k = 0; k < 4; ++k) {
    const __m512 x0 = swat_shuffle_f32x4(r[k], r[4 + k], 0x44), x1 = swat_shuffle_f32x4(r[k], r[4 + k], 0xEE);
    const __m512 x2 = swat_shuffle_f32x4(r[8 + k], r[12 + k], 0x44), x3 = swat_shuffle_f32x4(r[8 + k], r[12 + k], 0xEE);
    _mm512_storeu_ps(out + k * out_stride, swat_shuffle_f32x4(x0, x2, 0x88));
    _mm512_storeu_ps(out + (4 + k) * out_stride, swat_shuffle_f32x4(x0, x2, 0xDD));
    _mm512_storeu_ps(out + (8 + k) * out_stride, swat_shuffle_f32x4(x1, x3, 0x88));
    _mm512_storeu_ps(out + (12 + k) * out_stride, swat_shuffle_f32x4(x1, x3, 0xDD));
  }
}
#undef swat_shuffle_f32x4
#undef swat_unpacklo_ps
#undef swat_unpackhi_ps
#undef swat_unpacklo_pd
#undef swat_unpackhi_pd
#endif

// out[j * out_stride + i] = in[i * in_stride + j] for i, j < W.
template <class T, class Arch>
inline void transpose_block(const T* in, int64_t in_stride, T* out, int64_t out_stride) {
  constexpr int64_t W = static_cast<int64_t>(Vec<T, Arch>::width);
#if defined(__AVX512F__) && XSIMD_WITH_AVX512F
  if constexpr (std::is_same<Arch, xsimd::avx512f>::value && std::is_same<T, float>::value)
    return transpose16_avx512(in, in_stride, out, out_stride);
#endif
  for (int64_t i = 0; i < W; ++i)
    for (int64_t j = 0; j < W; ++j) out[j * out_stride + i] = in[i * in_stride + j];
}

// N vectors as an N x N matrix of chunks of W / N lanes (chunk c of vector r: lanes c * W / N
// and on), transposed in place: chunk c of vector r and chunk r of vector c trade places. The
// decode kernel's scores come out of transpose_sum a step of W / N keys at a time for N heads
// (head c in chunk c); N steps so transposed give each head's W keys in one vector. AVX-512
// float for N = 2 and 4 in registers (2 and 8 shuffles); every other case through memory.
// `fast` says which.
template <class T, class Arch, int N>
struct ChunkTranspose {
  using V = Vec<T, Arch>;
  using vec = typename V::type;
  static constexpr int W = static_cast<int>(V::width);
  static constexpr bool fast = N == 1 || (std::is_same<Arch, xsimd::avx512f>::value && std::is_same<T, float>::value &&
                                          (N == 2 || N == 4));
  static SWAT_INLINE void apply(vec* v) {
    static_assert(W % N == 0, "the chunks must divide the vector");
    if constexpr (N == 1) return;
#if defined(__AVX512F__) && XSIMD_WITH_AVX512F
    if constexpr (fast && N == 2) {
      // 256-bit chunks: [v0.lo, v1.lo], [v0.hi, v1.hi].
      const __m512 a = v[0], b = v[1];
      v[0] = _mm512_maskz_shuffle_f32x4(0xFFFF, a, b, _MM_SHUFFLE(1, 0, 1, 0));
      v[1] = _mm512_maskz_shuffle_f32x4(0xFFFF, a, b, _MM_SHUFFLE(3, 2, 3, 2));
      return;
    } else if constexpr (fast && N == 4) {
      // 128-bit chunks: pairs of vectors' chunks 0, 1 and 2, 3 side by side, then every other.
      const __m512 t0 = _mm512_maskz_shuffle_f32x4(0xFFFF, v[0], v[1], _MM_SHUFFLE(1, 0, 1, 0));
      const __m512 t1 = _mm512_maskz_shuffle_f32x4(0xFFFF, v[0], v[1], _MM_SHUFFLE(3, 2, 3, 2));
      const __m512 t2 = _mm512_maskz_shuffle_f32x4(0xFFFF, v[2], v[3], _MM_SHUFFLE(1, 0, 1, 0));
      const __m512 t3 = _mm512_maskz_shuffle_f32x4(0xFFFF, v[2], v[3], _MM_SHUFFLE(3, 2, 3, 2));
      v[0] = _mm512_maskz_shuffle_f32x4(0xFFFF, t0, t2, _MM_SHUFFLE(2, 0, 2, 0));
      v[1] = _mm512_maskz_shuffle_f32x4(0xFFFF, t0, t2, _MM_SHUFFLE(3, 1, 3, 1));
      v[2] = _mm512_maskz_shuffle_f32x4(0xFFFF, t1, t3, _MM_SHUFFLE(2, 0, 2, 0));
      v[3] = _mm512_maskz_shuffle_f32x4(0xFFFF, t1, t3, _MM_SHUFFLE(3, 1, 3, 1));
      return;
    }
#endif
    if constexpr (N > 1 && !fast) {
      constexpr int C = W / N;
      alignas(64) T in[N][W], out[N][W];
      for (int r = 0; r < N; ++r) V::store(in[r], v[r]);
      for (int r = 0; r < N; ++r)
        for (int c = 0; c < N; ++c)
          for (int l = 0; l < C; ++l) out[c][r * C + l] = in[r][c * C + l];
      for (int r = 0; r < N; ++r) v[r] = V::load(out[r]);
    }
  }
};

// out[c][r] = in[r][c] for r < R, c < C (in's rows C apart, out's R apart): W x W blocks, the
// edges of R and C past the last whole block one by one. The kernels turn a [D][lanes] slab
// into `lanes` rows of D with it (R = D, C = lanes), and rows into a slab (R = lanes, C = D).
template <class T, class Arch>
inline void transpose_matrix(const T* in, int64_t R, int64_t C, T* out) {
  constexpr int64_t W = static_cast<int64_t>(Vec<T, Arch>::width);
  const int64_t whole_r = R / W * W, whole_c = C / W * W;
  for (int64_t r0 = 0; r0 < whole_r; r0 += W)
    for (int64_t c0 = 0; c0 < whole_c; c0 += W) transpose_block<T, Arch>(in + r0 * C + c0, C, out + c0 * R + r0, R);
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = r < whole_r ? whole_c : 0; c < C; ++c) out[c * R + r] = in[r * C + c];
}

// A lane block of rows into its [D][lanes] slab: `count` rows written, the rows past them (up
// to lanes) zeroed, so that padding lanes score and add nothing, then transposed. Reading the
// slab back into rows is transpose_matrix(slab, D, lanes, rows).
template <class T, class Arch>
inline void pack_lane_block(T* rows, int64_t count, int64_t lanes, int64_t D, T* slab) {
  fill(rows + count * D, rows + lanes * D, T(0));
  transpose_matrix<T, Arch>(rows, lanes, D, slab);
}

}  // namespace SWAT_ISA_NAMESPACE
}  // namespace detail
}  // namespace swat
